"""Loss value and gradient of a parameter pytree, in reverse or forward mode.

- ``mode="reverse"`` (``jax.grad``): one backward pass whatever the number of parameters; right
  for many parameters (a layer's weights and delays).
- ``mode="forward"`` (``jax.jacfwd``): one forward pass per parameter; right for a few
  parameters (a handful of delays), and needs no stored trajectory.

With ``per_example=True`` the loss is written for one example (``loss_fn(params, example)``)
and the batch has a leading axis: value and gradient are computed per example
(``vmap`` of the differentiated loss) and averaged. This is also the order to use for simulated
networks: JAX 0.10.2 fails to differentiate a ``vmap`` of a ``lax.scan`` that contains
``custom_jvp`` rules with constant primal outputs (``grad(vmap(scan))``), while
``vmap(grad(scan))`` works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

__all__ = ["Mode", "MODES", "value_and_grad"]

Mode = Literal["reverse", "forward"]
MODES: tuple[str, ...] = ("reverse", "forward")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


def _single(loss_fn: Callable, mode: str, has_aux: bool) -> Callable:
    """``f(params, *batch) -> ((loss, aux), grads)`` for one loss evaluation."""

    def with_aux(params, *batch):
        out = loss_fn(params, *batch)
        loss, aux = out if has_aux else (out, None)
        return jnp.asarray(loss, jnp.float32), aux

    if mode == "reverse":
        return jax.value_and_grad(with_aux, has_aux=True)

    def forward(params, *batch):
        def keep_value(p):
            loss, aux = with_aux(p, *batch)
            return loss, (loss, aux)

        grads, (loss, aux) = jax.jacfwd(keep_value, has_aux=True)(params)
        return (loss, aux), grads

    return forward


def value_and_grad(
    loss_fn: Callable[..., Any],
    *,
    mode: Mode = "reverse",
    per_example: bool = False,
    has_aux: bool = False,
) -> Callable[..., tuple[tuple[jax.Array, Any], Any]]:
    """``f(params[, batch]) -> ((loss, aux), grads)`` for ``loss_fn(params[, batch])``.

    ``loss_fn`` returns a scalar, or ``(scalar, aux)`` with ``has_aux``. ``grads`` has the
    structure of ``params``. With ``per_example``, ``batch`` is a pytree with a leading example
    axis; the loss and gradients are means over examples and ``aux`` keeps the example axis.
    """
    _check_mode(mode)
    single = _single(loss_fn, mode, has_aux)
    if not per_example:
        return single

    def batched(params, batch):
        (loss, aux), grads = jax.vmap(single, in_axes=(None, 0))(params, batch)
        mean = jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), grads)
        return (jnp.mean(loss), aux), mean

    return batched
