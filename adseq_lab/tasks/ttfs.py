"""Time-to-first-spike readout of a simulated layer, for classification losses.

:attr:`adseq_lab.network.SimResult.first_spike_ms` is the start of the step in which the
threshold was crossed (on the step grid, with the exact crossing-time gradient). Two
refinements make it a better loss input:

- *sub-step value*: the crossing is placed between the steps by linear interpolation of the
  recorded voltage, ``t + dt (vthres - v_k) / (v_{k+1} - v_k)``; the interpolation only moves
  the value (its own derivative is dropped), the gradient stays the exact crossing-time one, so
  two outputs crossing in the same step are still ordered;
- *silent neurons*: a neuron that never crosses gets the time ``t_max_ms + slope_ms * (vthres -
  max_t v) / vthres`` (later than any spike, earlier the closer it came to threshold), whose
  gradient through the peak voltage pulls a silent neuron towards firing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..network import SimResult

__all__ = ["first_spike_times"]


def first_spike_times(
    result: SimResult,
    *,
    dt_ms: float,
    vthres: float | jax.Array,
    t_max_ms: float,
    slope_ms: float,
) -> tuple[jax.Array, jax.Array]:
    """``(times_ms, spiked)``, each ``(n,)``, for a layer simulated with all voltages recorded
    (``record_voltage=None``): the interpolated first-spike time where ``spiked``, the
    silent-neuron time above ``t_max_ms`` elsewhere (see the module doc)."""
    voltage = result.voltage
    if voltage.shape != result.spikes.shape:
        raise ValueError(
            "first_spike_times needs every voltage recorded (record_voltage=None); got voltage "
            f"{voltage.shape} for spikes {result.spikes.shape}"
        )
    steps = voltage.shape[0]
    spiked = result.first_spike_ms >= 0
    k = jnp.argmax(result.spikes, axis=0)
    columns = jnp.arange(voltage.shape[1])
    v_now = jax.lax.stop_gradient(voltage[k, columns])
    v_next = jax.lax.stop_gradient(voltage[jnp.minimum(k + 1, steps - 1), columns])
    rise = jnp.where(v_next > v_now, v_next - v_now, 1.0)
    fraction = jnp.clip((jax.lax.stop_gradient(vthres) - v_now) / rise, 0.0, 1.0)
    spike_time = result.first_spike_ms + dt_ms * fraction
    peak = jnp.max(voltage, axis=0)
    silent_time = t_max_ms + slope_ms * (vthres - peak) / vthres
    return jnp.where(spiked, spike_time, silent_time), spiked
