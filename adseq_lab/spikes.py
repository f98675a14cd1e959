"""Differentiable spike primitives: crossing detection, time to step, synaptic jump, SuperSpike.

Units: times in ms, steps in units of ``dt_ms``. An arrival step's *value* is a whole step while
its *tangent* stays in ms (the seed's convention); :func:`synaptic_jump` turns that tangent into
the derivative of the synaptic current. Every rule is linear in the tangents, so reverse mode is
JAX's transpose of it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "NO_SPIKE",
    "crossing",
    "spike_detect",
    "time_to_step",
    "synaptic_jump",
    "superspike",
]

NO_SPIKE = -1.0
"""Sentinel spike/arrival time (ms) where no spike happened; its tangent is zero."""


def _crossed(v: jax.Array, vnext: jax.Array, vthres: jax.Array) -> jax.Array:
    return (v < vthres) & (vnext >= vthres)


@jax.custom_jvp
def _crossing_time(t_ms, v, vnext, vthres, dt_ms):
    # The value depends on the voltages (by a select), so under vmap it is batched like its
    # tangent; a plain broadcast of t_ms would not be, and grad(vmap(...)) would fail.
    return jnp.where(_crossed(v, vnext, vthres), t_ms, t_ms).astype(jnp.result_type(t_ms, v))


def _crossing_tangent(inverse_slope, t_dot, v_dot, vthres_dot):
    shift = t_dot + (vthres_dot - v_dot) * inverse_slope
    return jnp.where(inverse_slope > 0, shift, jnp.zeros_like(shift))


@_crossing_time.defjvp
def _crossing_time_jvp(primals, tangents):
    t_ms, v, vnext, vthres, dt_ms = primals
    t_dot, v_dot, _, vthres_dot, _ = tangents
    out = _crossing_time(t_ms, v, vnext, vthres, dt_ms)
    # dv/dt > 0 wherever v < vthres <= vnext, so 1 / (dv/dt) > 0 marks the crossings: reverse
    # mode keeps this one float per element, and rebuilds the mask from it.
    crossed = _crossed(v, vnext, vthres)
    slope = jnp.where(crossed, (vnext - v) / dt_ms, 1.0)
    inverse_slope = jnp.where(crossed, 1.0 / slope, 0.0).astype(out.dtype)
    lean = jax.checkpoint(_crossing_tangent, prevent_cse=False)
    return out, lean(inverse_slope, t_dot, v_dot, vthres_dot).astype(out.dtype)


def crossing(
    t_ms: jax.Array, v: jax.Array, vnext: jax.Array, vthres: jax.Array, dt_ms: float
) -> tuple[jax.Array, jax.Array]:
    """Threshold crossing between the steps at ``t_ms`` and ``t_ms + dt_ms``.

    Returns ``(spiked, spike_ms)`` (shapes broadcast from the inputs): ``spiked`` where
    ``v < vthres <= vnext``; ``spike_ms`` has the value ``t_ms`` and the tangent of the crossing
    time, ``t_dot + (vthres_dot - v_dot) / (dv/dt)`` with ``dv/dt = (vnext - v) / dt_ms``
    (zero where nothing crossed).
    """
    return _crossed(v, vnext, vthres), _crossing_time(t_ms, v, vnext, vthres, dt_ms)


def spike_detect(dt_ms, t_ms, vthres, v, vnext, delay_ms) -> jax.Array:
    """Arrival time ``t_ms + delay_ms`` of a spike crossing in this step, else :data:`NO_SPIKE`.

    The seed's signature. Tangent: ``-v_dot / (dv/dt) + delay_dot`` on a spike, 0 otherwise.
    """
    spiked, spike_ms = crossing(t_ms, v, vnext, vthres, dt_ms)
    return jnp.where(spiked, spike_ms + delay_ms, NO_SPIKE)


def time_to_step(t_ms: jax.Array, dt_ms: float) -> jax.Array:
    """``round(t_ms / dt_ms)`` as float32 steps; straight-through tangent ``t_dot`` (in ms)."""
    return _time_to_step(jnp.asarray(t_ms, jnp.float32), dt_ms)


@jax.custom_jvp
def _time_to_step(t_ms, dt_ms):
    return jnp.round(t_ms / dt_ms)


@_time_to_step.defjvp
def _time_to_step_jvp(primals, tangents):
    t_ms, dt_ms = primals
    t_dot, _ = tangents
    return _time_to_step(t_ms, dt_ms), t_dot


def synaptic_jump(hit: jax.Array, tau_syn_ms: jax.Array) -> jax.Array:
    """The current jump of ``hit`` arrivals (value ``hit``); tangent ``hit_dot / tau_syn_ms``.

    ``hit_dot`` is the summed arrival-time tangent (ms) of the events popped this step; the jump's
    tangent is the derivative of ``exp(-(t - t_arr) / tau)`` with respect to ``t_arr`` at arrival.
    """
    return _jump(jnp.asarray(hit, jnp.float32), tau_syn_ms)


@jax.custom_jvp
def _jump(hit, tau_syn_ms):
    return hit


@_jump.defjvp
def _jump_jvp(primals, tangents):
    hit, tau_syn_ms = primals
    hit_dot, _ = tangents
    return hit, (hit_dot / tau_syn_ms).astype(hit.dtype)


@jax.custom_jvp
def superspike(x: jax.Array) -> jax.Array:
    """Heaviside step ``x >= 0`` with the SuperSpike surrogate derivative ``1 / (|x| + 1)^2``
    (Zenke & Ganguli 2018)."""
    return jnp.where(x < 0, 0.0, 1.0).astype(jnp.result_type(x, jnp.float32))


@superspike.defjvp
def _superspike_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return superspike(x), x_dot / (jnp.abs(x) + 1) ** 2
