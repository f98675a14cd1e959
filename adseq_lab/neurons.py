"""LIF and AdEx neurons, one Euler step each, with exact (saltation) or surrogate reset gradients.

Update order (shared by the networks and the Flax bridge, and mirrored in the Brian2 check): a
neuron whose voltage is at or above threshold at the start of a step is reset in that step;
otherwise it integrates. A spike is therefore *detected* as the crossing ``v < vthres <= vnext``
between two steps (:func:`adseq_lab.spikes.crossing`), and reset one step later.

Shapes: every argument broadcasts (typically ``(n,)`` neurons). Units: ms for times, voltages in
the model's units (LIF: threshold 1 by default; AdEx: mV), currents in voltage per ms for LIF and
nA for AdEx.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp

from .spikes import crossing, superspike

__all__ = [
    "ResetGradient",
    "lif_step",
    "AdExParams",
    "adex_step",
    "first_spike_time",
]

ResetGradient = Literal["exact", "surrogate"]


def _check_reset(reset_gradient: str) -> None:
    if reset_gradient not in ("exact", "surrogate"):
        raise ValueError(f"reset_gradient must be 'exact' or 'surrogate', got {reset_gradient!r}")


def _safe(x: jax.Array) -> jax.Array:
    return jnp.where(x == 0, 1.0, x)


@jax.custom_jvp
def _lif_reset(v, isyn, tau_mem_ms):
    return 0.0 * v  # depends on v, so it is batched like its tangent under vmap


@_lif_reset.defjvp
def _lif_reset_jvp(primals, tangents):
    v, isyn, tau_mem_ms = primals
    v_dot, _, _ = tangents
    dvdt_pre = isyn - v / tau_mem_ms
    return _lif_reset(v, isyn, tau_mem_ms), isyn / _safe(dvdt_pre) * v_dot


def lif_step(
    v: jax.Array,
    isyn: jax.Array,
    *,
    dt_ms: float,
    tau_mem_ms: float | jax.Array = 10.0,
    vthres: float | jax.Array = 1.0,
    reset_gradient: ResetGradient = "exact",
    forced_reset: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """One step of ``dv/dt = -v / tau_mem + isyn``: ``(vnext, reset)``.

    Free evolution ``vnext = exp(-dt/tau_mem) v + dt isyn``. Where ``v >= vthres`` the neuron
    resets to 0 instead. ``reset`` (float, 1.0 where the neuron reset) carries the surrogate
    derivative with ``reset_gradient='surrogate'`` (SuperSpike); with ``'exact'`` the reset's
    tangent is the saltation ``isyn / (isyn - v / tau_mem) * v_dot`` and ``reset`` has none.
    ``forced_reset`` (bool, teacher forcing): the neuron resets exactly there, whatever ``v``;
    a reset at a fixed time has no tangent.
    """
    _check_reset(reset_gradient)
    decay = jnp.exp(-dt_ms / tau_mem_ms)
    v_free = decay * v + dt_ms * isyn
    if forced_reset is not None:
        return jnp.where(forced_reset, 0.0, v_free), forced_reset.astype(v_free.dtype)
    if reset_gradient == "surrogate":
        reset = superspike(v - vthres)
        return (1.0 - reset) * v_free, reset
    fired = v >= vthres
    vnext = jnp.where(fired, _lif_reset(v, isyn, tau_mem_ms), v_free)
    return vnext, fired.astype(v_free.dtype)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class AdExParams:
    """Adaptive exponential integrate-and-fire (Brette & Gerstner 2005, their Fig. 2 values).

    ``C`` nF, ``g_L`` uS, ``E_L``/``V_T``/``Delta_T``/``V_reset``/``V_peak`` mV, ``tau_w`` ms,
    ``a`` uS, ``b`` nA. Fields are arrays, so gradients reach them.
    """

    C: float | jax.Array = 0.281
    g_L: float | jax.Array = 0.030
    E_L: float | jax.Array = -70.6
    V_T: float | jax.Array = -50.4
    Delta_T: float | jax.Array = 2.0
    tau_w: float | jax.Array = 144.0
    a: float | jax.Array = 0.004
    b: float | jax.Array = 0.0805
    V_reset: float | jax.Array = -70.6
    V_peak: float | jax.Array = -40.4

    def dV(self, V: jax.Array, w: jax.Array, current: jax.Array) -> jax.Array:
        """``dV/dt`` in mV/ms; the exponential is evaluated at most at ``V_peak``."""
        exponent = (jnp.minimum(V, self.V_peak) - self.V_T) / self.Delta_T
        leak = -self.g_L * (V - self.E_L)
        return (leak + self.g_L * self.Delta_T * jnp.exp(exponent) - w + current) / self.C

    def dw(self, V: jax.Array, w: jax.Array) -> jax.Array:
        """``dw/dt`` in nA/ms."""
        return (self.a * (V - self.E_L) - w) / self.tau_w


@jax.custom_jvp
def _adex_reset(V, w, current, params):
    return (params.V_reset + 0.0 * V).astype(V.dtype), w + params.b


@_adex_reset.defjvp
def _adex_reset_jvp(primals, tangents):
    V, w, current, params = primals
    V_dot, w_dot, _, params_dot = tangents
    V_post, w_post = _adex_reset(V, w, current, params)
    fV_pre = _safe(params.dV(V, w, current))
    fV_post = params.dV(V_post, w_post, current)
    fw_pre, fw_post = params.dw(V, w), params.dw(V_post, w_post)
    return (V_post, w_post), (
        fV_post / fV_pre * V_dot,
        w_dot + params_dot.b + (fw_post - fw_pre) / fV_pre * V_dot,
    )


def adex_step(
    V: jax.Array,
    w: jax.Array,
    current: jax.Array,
    *,
    dt_ms: float,
    params: AdExParams = AdExParams(),
    reset_gradient: ResetGradient = "exact",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One Euler step of AdEx: ``(V_next, w_next, reset)``.

    Where ``V >= V_peak`` the neuron resets (``V -> V_reset``, ``w -> w + b``). Exact reset
    tangents (saltation): ``V_dot' = fV_post / fV_pre V_dot`` and
    ``w_dot' = w_dot + (fw_post - fw_pre) / fV_pre V_dot``. With ``'surrogate'`` the reset is
    blended by a SuperSpike step of ``(V - V_peak) / Delta_T``.
    """
    _check_reset(reset_gradient)
    V_free = V + dt_ms * params.dV(V, w, current)
    w_free = w + dt_ms * params.dw(V, w)
    if reset_gradient == "surrogate":
        reset = superspike((V - params.V_peak) / params.Delta_T)
        V_next = (1.0 - reset) * V_free + reset * params.V_reset
        return V_next, w_free + reset * params.b, reset
    fired = V >= params.V_peak
    V_post, w_post = _adex_reset(V, w, current, params)
    return (
        jnp.where(fired, V_post, V_free),
        jnp.where(fired, w_post, w_free),
        fired.astype(V_free.dtype),
    )


def first_spike_time(
    first_ms: jax.Array, t_ms: jax.Array, v: jax.Array, vnext: jax.Array, vthres, dt_ms: float
) -> jax.Array:
    """Update time-to-first-spike (ms, -1 where none yet) with a crossing in ``[t, t + dt)``.

    The time has the crossing's gradient (:func:`adseq_lab.spikes.crossing`).
    """
    spiked, spike_ms = crossing(t_ms, v, vnext, vthres, dt_ms)
    return jnp.where((first_ms < 0) & spiked, spike_ms, first_ms)
