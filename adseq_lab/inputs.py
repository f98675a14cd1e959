"""External drive of a network: injected currents and input spike trains, one row per time step.

A :class:`Drive` holds ``current`` (``(T, n_neurons)``, added to the synaptic current of each
neuron in step ``k``) and ``spikes_ms`` (``(T, n_inputs)``, the spike time in ms of input ``i``
in step ``k``, or :data:`~adseq_lab.spikes.NO_SPIKE` where it is silent). Spike times are floats
so their tangents travel into the synapses: a layer's ``SimResult.spike_ms`` is directly the
``spikes_ms`` of the next layer.

>>> from adseq_lab import inputs
>>> drive = inputs.Drive(spikes_ms=inputs.spikes_from_times([[0.5], [], [0.2, 1.0]], 20, 0.1))
>>> drive.steps, drive.spikes_ms.shape
(20, (20, 3))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .spikes import NO_SPIKE

__all__ = [
    "Drive",
    "forced_resets",
    "step_times",
    "constant_current",
    "poisson_spikes",
    "spikes_from_times",
    "spikes_from_raster",
]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Drive:
    """External input for ``T`` steps. Either field may be ``None``.

    - ``current``: ``(T, n_neurons)`` float, injected current (LIF: voltage per ms; AdEx: nA);
    - ``spikes_ms``: ``(T, n_inputs)`` float, input spike times (ms) per step, ``NO_SPIKE``
      (-1) where an input is silent; carries tangents (differentiable input spike times);
    - ``forced_spikes``: ``(T, n_neurons)`` bool, teacher forcing (LIF only): each neuron's
      spikes are exactly these (reported, sent on, and reset in the next step), not its own
      threshold crossings, so its voltage may rise above threshold unreset. Their times are
      fixed: no tangent. Used to fit a neuron's voltage to a known spike train.
    """

    current: jax.Array | None = None
    spikes_ms: jax.Array | None = None
    forced_spikes: jax.Array | None = None

    @property
    def steps(self) -> int | None:
        """``T``, the number of steps this drive covers (``None`` if every field is empty)."""
        for field in (self.current, self.spikes_ms, self.forced_spikes):
            if field is not None:
                return int(jnp.shape(field)[0])
        return None


def forced_resets(forced_spikes: jax.Array) -> jax.Array:
    """The steps in which teacher-forced neurons reset, ``(T, n)`` bool from ``forced_spikes``
    ``(T, n)``: a spike in step ``k`` (the voltage reached the threshold by ``t_{k+1}``) resets
    the neuron in step ``k + 1``; nothing resets in step 0."""
    return jnp.concatenate([jnp.zeros_like(forced_spikes[:1]), forced_spikes[:-1]])


def step_times(steps: int, dt_ms: float, start_step: int = 0) -> jax.Array:
    """Start time of each step, ``(start_step + arange(steps)) * dt_ms`` (float32, ms).

    The same float32 arithmetic the simulation uses for its own clock.
    """
    return (start_step + jnp.arange(steps)).astype(jnp.float32) * dt_ms


def _check_steps(steps: int, dt_ms: float) -> None:
    if not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not (math.isfinite(dt_ms) and dt_ms > 0):
        raise ValueError(f"dt_ms must be a positive time step (ms), got {dt_ms}")


def constant_current(
    steps: int,
    n_neurons: int,
    amplitude: float | jax.Array,
    dt_ms: float,
    *,
    start_ms: float = 0.0,
    stop_ms: float | None = None,
) -> jax.Array:
    """``(steps, n_neurons)`` current: ``amplitude`` (scalar or ``(n_neurons,)``) for steps whose
    start time ``t`` satisfies ``start_ms <= t < stop_ms`` (``stop_ms=None``: to the end), else 0.

    The seed's recurrent benchmark drive is ``constant_current(T, n, 1.0, dt, stop_ms=2.0)``.
    """
    _check_steps(steps, dt_ms)
    t = step_times(steps, dt_ms)
    on = t >= start_ms
    if stop_ms is not None:
        on = on & (t < stop_ms)
    amplitude = jnp.broadcast_to(jnp.asarray(amplitude, jnp.float32), (n_neurons,))
    return jnp.where(on[:, None], amplitude[None, :], 0.0)


def poisson_spikes(
    key: jax.Array, rates_hz: float | jax.Array, steps: int, n_inputs: int, dt_ms: float
) -> jax.Array:
    """``(steps, n_inputs)`` spike times: input ``i`` fires in a step with probability
    ``rate_hz * dt_ms / 1000`` (at most once per step), at the step's start time."""
    _check_steps(steps, dt_ms)
    rates = jnp.broadcast_to(jnp.asarray(rates_hz, jnp.float32), (n_inputs,))
    p = rates * (dt_ms / 1000.0)
    fired = jax.random.uniform(key, (steps, n_inputs)) < p
    return jnp.where(fired, step_times(steps, dt_ms)[:, None], NO_SPIKE)


def spikes_from_raster(raster: jax.Array, dt_ms: float, start_step: int = 0) -> jax.Array:
    """Spike times of a bool raster ``(T, n_inputs)``: the step's start time where true."""
    raster = jnp.asarray(raster)
    if raster.ndim != 2:
        raise ValueError(f"raster must have shape (T, n_inputs), got {raster.shape}")
    times = step_times(raster.shape[0], dt_ms, start_step)
    return jnp.where(raster.astype(bool), times[:, None], NO_SPIKE)


def spikes_from_times(times_ms: Sequence[Sequence[float]], steps: int, dt_ms: float) -> jax.Array:
    """``(steps, n_inputs)`` spike times from one list of times (ms) per input.

    Each time goes to the step ``round(t / dt_ms)`` and is stored as that step's start time
    (times on the grid; Brian2's ``SpikeGeneratorGroup`` does the same). ``ValueError`` for a
    time outside ``[0, steps * dt_ms)`` or two spikes of one input in the same step.
    """
    _check_steps(steps, dt_ms)
    table = np.full((steps, len(times_ms)), NO_SPIKE, np.float32)
    clock = np.asarray(step_times(steps, dt_ms))
    for i, times in enumerate(times_ms):
        for t in times:
            k = int(round(float(t) / dt_ms))
            if not 0 <= k < steps:
                raise ValueError(
                    f"times_ms[{i}] has {t} ms, outside the simulated [0, {steps * dt_ms}) ms"
                )
            if table[k, i] != NO_SPIKE:
                raise ValueError(f"times_ms[{i}] has two spikes in step {k} (dt_ms={dt_ms})")
            table[k, i] = clock[k]
    return jnp.asarray(table)
