"""Spike timing: learn the delays of a few synapses so that a neuron fires at a target time.

The seed's Jaxley example done with :mod:`adseq_lab.network`: ``n_inputs`` presynaptic sources
fire once each at ``input_ms``; their synapses (fixed weights) converge on one LIF neuron. The
delays (bounded onto ``[0, max_delay_ms]``, :func:`adseq_lab.train.bounded_delay`) are learned so
that the neuron's first spike happens at ``target_ms``. The loss is the squared distance of the
first-spike time (interpolated between steps; a silent neuron gets the time of
:func:`~adseq_lab.tasks.ttfs.first_spike_times`) from the target. Few parameters, so the
default is forward mode (``jacfwd``).

>>> result = spike_timing(target_ms=4.0, steps=60)
>>> result.reached, abs(result.error_ms) <= result.dt_ms
(True, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import network
from ..inputs import Drive, spikes_from_times
from ..train.bounded import bounded_delay, raw_delay
from ..train.gradients import Mode
from ..train.loop import Callback, fit
from .feedforward import parse_queue
from .raster import Raster
from .ttfs import first_spike_times

__all__ = ["SpikeTimingResult", "spike_timing", "spike_timing_raster"]


@dataclasses.dataclass(frozen=True)
class SpikeTimingResult:
    """``delays_ms`` learned ``(n_inputs,)``; ``first_spike_ms`` on the step grid (-1 if
    silent); ``error_ms`` = first spike - target; ``reached``: ``|error_ms| <= dt_ms``;
    ``losses`` per step; ``initial_first_spike_ms``."""

    delays_ms: np.ndarray
    first_spike_ms: float
    initial_first_spike_ms: float
    target_ms: float
    error_ms: float
    reached: bool
    dt_ms: float
    losses: np.ndarray
    steps: int


def _setup(
    input_ms: Sequence[float],
    weights: Sequence[float] | float,
    max_delay_ms: float,
    dt_ms: float,
    duration_ms: float,
    queue: str,
) -> tuple[network.Network, Drive, jax.Array]:
    """The task's network (``len(input_ms)`` inputs onto one neuron), its input drive and the
    ``(n, 1)`` weights."""
    n = len(input_ms)
    arrangement, kind, history = parse_queue(queue)
    n_steps = int(round(duration_ms / dt_ms))
    net = network.Network(
        n_neurons=1,
        n_inputs=n,
        recurrent=False,
        dt_ms=dt_ms,
        max_delay_ms=max_delay_ms,
        arrangement=arrangement,
        queue=kind,
        history=history,
        checkpoint=None,
    ).validate()
    drive = Drive(spikes_ms=spikes_from_times([[t] for t in input_ms], n_steps, dt_ms))
    weight = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), (n,)).reshape(n, 1)
    return net, drive, weight


def _params(
    weight: jax.Array, delays_ms: jax.Array, tau_syn_ms: float, tau_mem_ms: float
) -> network.NetworkParams:
    return network.NetworkParams(
        input_weight=weight,
        input_delay_ms=delays_ms.reshape(weight.shape),
        tau_syn_ms=jnp.float32(tau_syn_ms),
        tau_mem_ms=jnp.float32(tau_mem_ms),
        vthres=jnp.float32(1.0),
    )


def spike_timing(
    target_ms: float = 6.0,
    *,
    input_ms: Sequence[float] = (1.0, 1.5, 2.0),
    weights: Sequence[float] | float = 1.2,
    initial_delay_ms: Sequence[float] | float = 1.0,
    max_delay_ms: float = 6.0,
    dt_ms: float = 0.05,
    duration_ms: float = 12.0,
    tau_syn_ms: float = 1.0,
    tau_mem_ms: float = 2.0,
    steps: int = 150,
    learning_rate: float = 0.1,
    optimizer: optax.GradientTransformation | None = None,
    mode: Mode = "forward",
    queue: str = "history:1",
    callback: Callback | None = None,
    every: int = 1,
) -> SpikeTimingResult:
    """Learn the delays; see the module doc. ``optimizer`` defaults to ``optax.adam
    (learning_rate)``; ``queue``: see :func:`adseq_lab.tasks.feedforward.parse_queue`;
    ``callback(step, loss, raw_delays, grads)`` every ``every`` steps (``False`` stops), with
    the delays ``bounded_delay(raw_delays, max_delay_ms)``."""
    n = len(input_ms)
    if n < 1:
        raise ValueError("input_ms needs at least one spike time")
    if not 0 < target_ms < duration_ms:
        raise ValueError(f"target_ms must lie in (0, duration_ms={duration_ms}), got {target_ms}")
    net, drive, weight = _setup(input_ms, weights, max_delay_ms, dt_ms, duration_ms, queue)
    start = jnp.broadcast_to(jnp.asarray(initial_delay_ms, jnp.float32), (n,))

    def simulate(raw):
        delays = bounded_delay(raw, max_delay_ms)
        return network.simulate(net, _params(weight, delays, tau_syn_ms, tau_mem_ms), drive)

    def loss(raw):
        times, _ = first_spike_times(
            simulate(raw), dt_ms=dt_ms, vthres=1.0, t_max_ms=duration_ms, slope_ms=tau_mem_ms
        )
        return (times[0] - target_ms) ** 2

    raw = raw_delay(start, max_delay_ms)
    first_spike = jax.jit(lambda r: simulate(r).first_spike_ms[0])
    initial = float(first_spike(raw))
    result = fit(
        loss,
        raw,
        steps=steps,
        optimizer=optimizer or optax.adam(learning_rate),
        mode=mode,
        callback=callback,
        every=every,
    )
    final = float(first_spike(result.params))
    error = final - target_ms if final >= 0 else float("inf")
    return SpikeTimingResult(
        delays_ms=np.asarray(bounded_delay(result.params, max_delay_ms)),
        first_spike_ms=final,
        initial_first_spike_ms=initial,
        target_ms=float(target_ms),
        error_ms=float(error),
        reached=bool(abs(error) <= dt_ms + 1e-6),
        dt_ms=float(dt_ms),
        losses=result.losses,
        steps=result.step,
    )


_simulate = jax.jit(network.simulate)


def spike_timing_raster(
    delays_ms: Sequence[float] | jax.Array,
    *,
    input_ms: Sequence[float] = (1.0, 1.5, 2.0),
    weights: Sequence[float] | float = 1.2,
    max_delay_ms: float = 6.0,
    dt_ms: float = 0.05,
    duration_ms: float = 12.0,
    tau_syn_ms: float = 1.0,
    tau_mem_ms: float = 2.0,
    queue: str = "history:1",
) -> Raster:
    """Spikes of the task's network (the settings as in :func:`spike_timing`) with the
    synapses' ``delays_ms`` ``(n_inputs,)``: the inputs (``"inputs"``, one spike each at
    ``input_ms``) and the neuron (``"neuron"``, the last index)."""
    n = len(input_ms)
    if n < 1:
        raise ValueError("input_ms needs at least one spike time")
    delays = np.asarray(delays_ms, np.float32)
    if delays.shape != (n,):
        raise ValueError(f"delays_ms must have shape ({n},) (one per input), got {delays.shape}")
    if not np.all((delays >= 0) & (delays <= max_delay_ms)):
        raise ValueError(f"delays_ms must lie in [0, max_delay_ms={max_delay_ms}], got {delays}")
    net, drive, weight = _setup(input_ms, weights, max_delay_ms, dt_ms, duration_ms, queue)
    result = _simulate(net, _params(weight, jnp.asarray(delays), tau_syn_ms, tau_mem_ms), drive)
    tables = (("inputs", np.asarray(drive.spikes_ms)), ("neuron", np.asarray(result.spike_ms)))
    return Raster.from_tables(tables, dt_ms)
