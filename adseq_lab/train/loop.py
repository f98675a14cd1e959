"""An optax training loop over any loss of a parameter pytree (delays, weights, time constants).

Each step is one jitted call (value, gradient, optional clipping, optimiser update); the network
inside the loss runs its own ``lax.scan`` over time. Around it, on the host:

- ``callback(step, loss, params, grads)`` every ``every`` steps (``step`` counts completed
  steps, ``grads`` are the unclipped gradients of that step); returning ``False`` stops
  training, so dashboards can plot live and offer a Stop button;
- ``stop``: anything with ``is_set()`` (a ``threading.Event``) checked before every step;
- checkpoints of parameters, optimiser state, step and loss history every ``checkpoint_every``
  steps and at the end; ``resume=True`` continues from an existing checkpoint file;
- a ``tqdm`` progress bar with ``progress=True``.

>>> import jax.numpy as jnp, optax
>>> result = fit(lambda p: jnp.sum((p["d"] - 2.0) ** 2), {"d": jnp.zeros(3)},
...              steps=200, optimizer=optax.adam(0.1))
>>> [round(float(x), 2) for x in result.params["d"]], result.step
([2.0, 2.0, 2.0], 200)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..xla_options import compiler_options
from .checkpoint import load_checkpoint, save_checkpoint
from .gradients import Mode, value_and_grad

__all__ = ["Callback", "FitResult", "TrainState", "fit", "make_update"]


class Callback(Protocol):
    def __call__(self, step: int, loss: float, params: Any, grads: Any) -> bool | None: ...


class _Stoppable(Protocol):
    def is_set(self) -> bool: ...


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """``step`` (int32 completed steps), ``params``, ``opt_state``: what a checkpoint holds."""

    step: jax.Array
    params: Any
    opt_state: Any


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns: final ``params`` and ``opt_state``, ``step`` (completed
    steps, counting resumed ones), ``losses`` (one per step, resumed history included),
    ``stopped`` (ended by the callback or ``stop`` before ``steps``), ``aux`` (the last step's
    auxiliary output, if any)."""

    params: Any
    opt_state: Any
    step: int
    losses: np.ndarray
    stopped: bool
    aux: Any = None


def make_update(
    loss_fn: Callable[..., Any],
    optimizer: optax.GradientTransformation,
    *,
    mode: Mode = "reverse",
    per_example: bool = False,
    has_aux: bool = False,
    clip_norm: float | None = None,
    with_batch: bool = True,
) -> Callable[..., tuple[TrainState, jax.Array, Any, Any]]:
    """A jitted ``update(state, batch) -> (state, loss, grads, aux)`` (``update(state)`` when
    ``with_batch=False``). Gradients are clipped to global norm ``clip_norm`` before the
    optimiser sees them; the returned ``grads`` are the unclipped ones. Compiled with
    :func:`adseq_lab.xla_options.compiler_options` (faster time loops on CPU)."""
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm}")
    grad_fn = value_and_grad(loss_fn, mode=mode, per_example=per_example, has_aux=has_aux)
    transform = _full_transform(optimizer, clip_norm)

    def update(state: TrainState, *batch):
        (loss, aux), grads = grad_fn(state.params, *batch)
        updates, opt_state = transform.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, opt_state), loss, grads, aux

    options = compiler_options()
    if with_batch:
        return jax.jit(lambda state, batch: update(state, batch), compiler_options=options)
    return jax.jit(lambda state: update(state), compiler_options=options)


def _full_transform(optimizer: optax.GradientTransformation, clip_norm: float | None):
    if clip_norm is None:
        return optimizer
    return optax.chain(optax.clip_by_global_norm(clip_norm), optimizer)


def _batch_source(batches: Iterable | Callable[[int], Any] | None) -> Callable[[int], Any] | None:
    if batches is None or callable(batches) and not hasattr(batches, "__iter__"):
        return batches
    iterator: Iterator = iter(batches)
    return lambda step: next(iterator)


def fit(
    loss_fn: Callable[..., Any],
    params: Any,
    *,
    steps: int,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 1e-2,
    batches: Iterable | Callable[[int], Any] | None = None,
    mode: Mode = "reverse",
    per_example: bool = False,
    has_aux: bool = False,
    clip_norm: float | None = None,
    callback: Callback | None = None,
    every: int = 1,
    stop: _Stoppable | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    progress: bool = False,
    description: str = "training",
) -> FitResult:
    """Minimise ``loss_fn`` over ``params`` for ``steps`` optimiser steps (in total, counting
    resumed ones).

    ``loss_fn(params)`` when ``batches`` is ``None``, else ``loss_fn(params, batch)`` with
    ``batch`` from ``batches`` (an iterable, or a function of the step index); returns a scalar
    or ``(scalar, aux)`` with ``has_aux``. ``optimizer`` defaults to ``optax.adam
    (learning_rate)``. ``mode`` and ``per_example``: see :mod:`adseq_lab.train.gradients`.
    """
    for name, value, low in (("steps", steps, 0), ("every", every, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if checkpoint_every is not None and (
        not isinstance(checkpoint_every, int) or checkpoint_every < 1
    ):
        raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path>")
    optimizer = optax.adam(learning_rate) if optimizer is None else optimizer
    source = _batch_source(batches)
    update = make_update(
        loss_fn,
        optimizer,
        mode=mode,
        per_example=per_example,
        has_aux=has_aux,
        clip_norm=clip_norm,
        with_batch=source is not None,
    )
    state = TrainState(
        jnp.zeros((), jnp.int32), params, _full_transform(optimizer, clip_norm).init(params)
    )
    losses: list[float] = []
    if resume and Path(checkpoint).exists():
        state, metadata = load_checkpoint(checkpoint, like=state)
        losses = list(metadata.get("losses", []))
    start = int(state.step)

    def save() -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, state, {"step": int(state.step), "losses": losses})

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=min(start, steps), desc=description, unit="step")
    stopped, aux = False, None
    try:
        for step in range(start, steps):
            if stop is not None and stop.is_set():
                stopped = True
                break
            args = () if source is None else (source(step),)
            state, loss, grads, aux = update(state, *args)
            loss_value = float(loss)
            losses.append(loss_value)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4g}", refresh=False)
            done = step + 1
            if checkpoint_every is not None and done % checkpoint_every == 0:
                save()
            if callback is not None and (done % every == 0 or done == steps):
                if callback(done, loss_value, state.params, grads) is False:
                    stopped = done < steps
                    break
    finally:
        if bar is not None:
            bar.close()
    save()
    return FitResult(
        params=state.params,
        opt_state=state.opt_state,
        step=int(state.step),
        losses=np.asarray(losses, np.float32),
        stopped=stopped,
        aux=aux,
    )
