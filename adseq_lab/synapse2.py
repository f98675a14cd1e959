"""Double-exponential delayed synapses with the seed's API (``mk_synapse2``, ``mk_synapse2s``).

Two currents share one queue: ``isyn1`` decays with ``tau_syn1_ms``, ``isyn2`` with the longer
``tau_syn2_ms`` (``tau1 < tau2``); each arriving spike adds 1 to both. The synaptic current is
peak-normalised, ``isyn = (isyn2 - isyn1) / denom`` with
``t_peak = tau1 tau2 / (tau2 - tau1) ln(tau2 / tau1)`` and
``denom = exp(-t_peak / tau2) - exp(-t_peak / tau1)``, so a single spike peaks at 1.

The seed's method argument is ``t_ms`` here (``ts`` for :mod:`adseq_lab.synapse`). Every call is
one step of ``dt_ms``; arrivals, delays and statistics as in :mod:`adseq_lab.synapse_base`.
Simultaneous arrivals add one each (the seed's synapse2 counted them as one).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .implementations import EventQueue, QueueType
from .spikes import synaptic_jump
from .synapse_base import DelayedSynapse, check_count, check_positive, concrete

__all__ = ["DoubleExpSynapse", "mk_synapse2", "mk_synapse2s", "peak_normaliser"]


def peak_normaliser(tau_syn1_ms: jax.Array, tau_syn2_ms: jax.Array) -> jax.Array:
    """``denom``: the peak of ``exp(-t/tau2) - exp(-t/tau1)``, at ``t_peak``."""
    t_peak = (
        tau_syn1_ms * tau_syn2_ms / (tau_syn2_ms - tau_syn1_ms) * jnp.log(tau_syn2_ms / tau_syn1_ms)
    )
    return jnp.exp(-t_peak / tau_syn2_ms) - jnp.exp(-t_peak / tau_syn1_ms)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DoubleExpSynapse(DelayedSynapse):
    """Delayed double-exponential synapses (shape ``S``: ``()`` or ``(n,)``).

    Besides :class:`~adseq_lab.synapse_base.DelayedSynapse`'s fields: ``isyn1``, ``isyn2``
    (``S``) and the scalar time constants ``tau_syn1_ms < tau_syn2_ms`` (ms; differentiable).
    """

    isyn1: jax.Array
    isyn2: jax.Array
    tau_syn1_ms: jax.Array
    tau_syn2_ms: jax.Array

    currents: ClassVar[tuple[str, ...]] = ("isyn1", "isyn2")

    @staticmethod
    def _check_parameters(tau_syn1_ms: Any, tau_syn2_ms: Any) -> dict[str, jax.Array]:
        """Both positive (ms) and, where concrete, ``tau_syn1_ms < tau_syn2_ms``."""
        tau1 = check_positive("tau_syn1_ms", tau_syn1_ms)
        tau2 = check_positive("tau_syn2_ms", tau_syn2_ms)
        known1, known2 = concrete(tau1), concrete(tau2)
        if known1 is not None and known2 is not None and not np.less(known1, known2):
            raise ValueError(
                "tau_syn1_ms must be smaller than tau_syn2_ms, "
                f"got {float(known1)} >= {float(known2)}"
            )
        return {"tau_syn1_ms": tau1, "tau_syn2_ms": tau2}

    @property
    def isyn(self) -> jax.Array:
        """The peak-normalised current ``(isyn2 - isyn1) / denom``, shape ``S``."""
        return (self.isyn2 - self.isyn1) / peak_normaliser(self.tau_syn1_ms, self.tau_syn2_ms)

    def _receive(self, hit: jax.Array) -> DoubleExpSynapse:
        decay1 = jnp.exp(-self.dt_ms / self.tau_syn1_ms)
        decay2 = jnp.exp(-self.dt_ms / self.tau_syn2_ms)
        return dataclasses.replace(
            self,
            isyn1=decay1 * self.isyn1 + synaptic_jump(hit, self.tau_syn1_ms),
            isyn2=decay2 * self.isyn2 + synaptic_jump(hit, self.tau_syn2_ms),
        )

    def timestep_spike_detect_pre(
        self, t_ms: Any, v: Any, vnext: Any, delay_ms: Any = None
    ) -> DoubleExpSynapse:
        """One step at ``t_ms`` with presynaptic voltages ``v -> vnext`` (shape ``S``);
        ``delay_ms`` (``()``, ``(1,)`` or ``S``) defaults to the synapses' delays."""
        return self._detect(t_ms, v, vnext, delay_ms, "t_ms")

    def timestep_static_spike(self, t_ms: Any, s: Any, delay_ms: Any = None) -> DoubleExpSynapse:
        """One step at ``t_ms`` where ``s`` (shape ``S``, nonzero = spike) are spikes sent now."""
        return self._static(t_ms, s, delay_ms, "t_ms")


def mk_synapse2(
    Q: type[EventQueue] | QueueType,
    *,
    dt_ms: float,
    vthres: Any,
    tau_syn1_ms: Any,
    tau_syn2_ms: Any,
    max_delay_ms: float | None = None,
    delay_ms: Any = None,
    grad: bool = True,
    **queue_options: Any,
) -> DoubleExpSynapse:
    """One double-exponential synapse (shape ``()``) with queue kind ``Q``.

    As in the seed, the delay is usually given in each call and ``max_delay_ms`` sizes the queue;
    ``delay_ms`` here sets a default delay (then ``max_delay_ms`` defaults to it). ``grad`` and
    ``queue_options`` as in :func:`adseq_lab.synapse.mk_synapse`.

    The seed's example (the spike at 0 ms arrives at 1 ms; both currents jump to 1, so the
    normalised current starts at 0 and rises):

    >>> from adseq_lab.implementations import SingleSpike
    >>> syn = mk_synapse2(
    ...     SingleSpike,
    ...     dt_ms=0.1,
    ...     vthres=1.0,
    ...     tau_syn1_ms=1.0,
    ...     tau_syn2_ms=10.0,
    ...     max_delay_ms=100.,
    ...     )
    >>> a = 1.0
    >>> syn = syn.timestep_spike_detect_pre(0, 1.0-a*0.1, 1.0+a*0.1, 1.0)
    >>> print(syn.isyn)
    0.0
    >>> syn = syn.timestep_spike_detect_pre(1, 0.9, 0.9, 0.0)
    >>> print(syn.isyn)
    0.0
    >>> after_one_step = syn.timestep_spike_detect_pre(2, 0.9, 0.9, 0.0)
    >>> print(after_one_step.isyn)
    0.12228451

    One call is one step of 0.1 ms. Stepping through the 10 steps from 1 ms to 2 ms gives the
    current 1 ms after arrival, ``(exp(-1/10) - exp(-1/1)) / denom = 0.7705643`` (float32
    rounding over 10 steps adds a few 1e-7):

    >>> for step in range(11, 21):
    ...     syn = syn.timestep_spike_detect_pre(step * 0.1, 0.9, 0.9, 0.0)
    >>> print(f"{syn.isyn:.5f}", bool(abs(syn.isyn - 0.7705642) < 1e-6))
    0.77056 True
    """
    return DoubleExpSynapse.create(
        Q,
        (),
        delay_ms,
        dt_ms,
        vthres,
        max_delay_ms,
        grad,
        queue_options,
        tau_syn1_ms=tau_syn1_ms,
        tau_syn2_ms=tau_syn2_ms,
    )


def mk_synapse2s(
    Q: type[EventQueue] | QueueType,
    *,
    dt_ms: float,
    vthres: Any,
    tau_syn1_ms: Any,
    tau_syn2_ms: Any,
    n: int,
    max_delay_ms: float | None = None,
    delay_ms: Any = None,
    grad: bool = True,
    **queue_options: Any,
) -> DoubleExpSynapse:
    """``n`` double-exponential synapses (shape ``(n,)``), one queue each; arguments as
    :func:`mk_synapse2`, ``delay_ms`` a scalar or one per synapse ``(n,)``."""
    return DoubleExpSynapse.create(
        Q,
        (check_count(n),),
        delay_ms,
        dt_ms,
        vthres,
        max_delay_ms,
        grad,
        queue_options,
        tau_syn1_ms=tau_syn1_ms,
        tau_syn2_ms=tau_syn2_ms,
    )
