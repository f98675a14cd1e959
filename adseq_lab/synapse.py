"""Single-exponential delayed synapses with the seed's API (``mk_synapse``, ``mk_synapses``).

Each call of :meth:`ExpSynapse.timestep_spike_detect_pre` advances one time step of ``dt_ms``:
it detects a presynaptic crossing ``v < vthres <= vnext``, sends the spike with its delay into the
queue (arrival step ``round((ts + delay_ms) / dt_ms)``), pops the events due at step
``round(ts / dt_ms)`` and updates ``isyn <- exp(-dt/tau_syn) isyn + hit``. ``ts`` is the time in
ms (the seed's name). The synapse is a pytree: put it in ``lax.scan`` carries, ``jit``, ``vmap``,
``grad`` and ``jacfwd`` through it. See :mod:`adseq_lab.synapse_base` for delays and statistics.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .implementations import EventQueue, QueueType
from .spikes import synaptic_jump
from .synapse_base import DelayedSynapse, check_count, check_positive

__all__ = ["ExpSynapse", "mk_synapse", "mk_synapses"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ExpSynapse(DelayedSynapse):
    """Delayed synapses with an exponentially decaying current (shape ``S``: ``()`` or ``(n,)``).

    Besides :class:`~adseq_lab.synapse_base.DelayedSynapse`'s fields: ``isyn`` (``S``, the
    current, a jump of 1 per arriving spike) and ``tau_syn_ms`` (scalar, ms; differentiable).
    """

    isyn: jax.Array
    tau_syn_ms: jax.Array

    currents: ClassVar[tuple[str, ...]] = ("isyn",)

    @staticmethod
    def _check_parameters(tau_syn_ms: Any) -> dict[str, jax.Array]:
        return {"tau_syn_ms": check_positive("tau_syn_ms", tau_syn_ms)}

    def _receive(self, hit: jax.Array) -> ExpSynapse:
        decay = jnp.exp(-self.dt_ms / self.tau_syn_ms)
        return dataclasses.replace(
            self, isyn=decay * self.isyn + synaptic_jump(hit, self.tau_syn_ms)
        )

    def timestep_spike_detect_pre(
        self, ts: Any, v: Any, vnext: Any, delay_ms: Any = None
    ) -> ExpSynapse:
        """One step at time ``ts`` (ms) with presynaptic voltages ``v -> vnext`` (shape ``S``).

        ``delay_ms`` (``()``, ``(1,)`` or ``S``) overrides the synapses' delays for this step.
        """
        return self._detect(ts, v, vnext, delay_ms, "ts")

    def timestep_static_spike(self, ts: Any, s: Any, delay_ms: Any = None) -> ExpSynapse:
        """One step at time ``ts`` (ms) where ``s`` (shape ``S``, nonzero = spike) are spikes
        sent now, arriving at ``round((ts + delay_ms) / dt_ms)``."""
        return self._static(ts, s, delay_ms, "ts")


def mk_synapse(
    Q: type[EventQueue] | QueueType,
    *,
    delay_ms: Any,
    dt_ms: float,
    vthres: Any,
    tau_syn_ms: Any,
    max_delay_ms: float | None = None,
    grad: bool = True,
    **queue_options: Any,
) -> ExpSynapse:
    """One single-exponential synapse (shape ``()``) with queue kind ``Q``.

    ``max_delay_ms`` sizes the queue (default: ``delay_ms``; required when ``delay_ms`` is traced,
    e.g. when differentiating with respect to it). ``grad=False`` stores integer arrival steps
    (no delay gradients; needed for BitArray32). ``queue_options`` go to ``Q.init``.

    The seed's example (the spike at 0 ms arrives after the 1.0 ms delay given in the call):

    >>> from adseq_lab.implementations import SingleSpike
    >>> syn = mk_synapse(
    ...     SingleSpike,
    ...     dt_ms=0.1,
    ...     vthres=1.0,
    ...     tau_syn_ms=1.0,
    ...     delay_ms=100.
    ...     )
    >>> a = 1.0
    >>> syn = syn.timestep_spike_detect_pre(0, 1.0-a*0.1, 1.0+a*0.1, 1.0)
    >>> print(syn.isyn)
    0.0
    >>> syn = syn.timestep_spike_detect_pre(1, 0.9, 0.9, 0.0)
    >>> print(syn.isyn)
    1.0
    >>> syn = syn.timestep_spike_detect_pre(2, 0.9, 0.9, 0.0)
    >>> print(syn.isyn)
    0.9048374

    Each call is one step of ``dt_ms``, whatever the gap between the ``ts`` values: the current
    decayed once (``exp(-0.1)``), not over the 1 ms between ``ts=1`` and ``ts=2``.
    """
    return ExpSynapse.create(
        Q, (), delay_ms, dt_ms, vthres, max_delay_ms, grad, queue_options, tau_syn_ms=tau_syn_ms
    )


def mk_synapses(
    Q: type[EventQueue] | QueueType,
    *,
    delay_ms: Any,
    dt_ms: float,
    vthres: Any,
    tau_syn_ms: Any,
    n: int,
    max_delay_ms: float | None = None,
    grad: bool = True,
    **queue_options: Any,
) -> ExpSynapse:
    """``n`` single-exponential synapses (shape ``(n,)``), one queue each.

    ``delay_ms``: one delay for all (scalar or ``(1,)``) or one per synapse ``(n,)``, in ms.
    Other arguments as :func:`mk_synapse`; ``max_delay_ms`` defaults to the largest delay.

    >>> import jax.numpy as jnp
    >>> from adseq_lab.implementations import Ring
    >>> syn = mk_synapses(Ring, delay_ms=jnp.array([0.0, 0.2]), dt_ms=0.1, vthres=1.0,
    ...                   tau_syn_ms=1.0, n=2)
    >>> for step in range(4):
    ...     syn = syn.timestep_static_spike(step * 0.1, jnp.array([step == 0, step == 0]))
    ...     print(syn.isyn)
    [1. 0.]
    [0.9048374 0.       ]
    [0.8187308 1.       ]
    [0.74081826 0.9048374 ]
    """
    return ExpSynapse.create(
        Q,
        (check_count(n),),
        delay_ms,
        dt_ms,
        vthres,
        max_delay_ms,
        grad,
        queue_options,
        tau_syn_ms=tau_syn_ms,
    )
