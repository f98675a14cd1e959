"""Delivery of delayed spikes over ``(n_pre, n_post)`` synapses: the two arrangements.

Both take, each step, the presynaptic spikes as *spike steps* (float32 whole steps whose tangent
is the spike-time tangent in ms) and the synapses of a :class:`Projection` (delays as whole
steps ``round(delay_ms / dt_ms)`` whose tangent is the delay's, in ms). They agree on every
detail that decides delivery:

- a spike of presynaptic neuron ``i`` in step ``s`` reaches synapse ``(i, j)`` at step
  ``s + delay_steps[i, j]`` (exact integer arithmetic in float32);
- in step ``k`` new spikes are registered first, then everything due at ``k`` is delivered, so a
  zero delay arrives in the step the spike was detected (the seed's order);
- each arrival at synapse ``(i, j)`` adds ``weight[i, j]`` to the current of target ``j``; its
  tangent is ``weight * arrival_dot / tau_syn`` (:func:`adseq_lab.spikes.synaptic_jump`, the
  arrival-time tangent in ms) plus ``weight_dot``;
- that tangent is the derivative of the current *after* the arrival; moving the jump itself by
  ``arrival_dot`` also removes the charge ``weight * arrival_dot`` the target would have
  integrated in between. :attr:`Arrival.charge` (value 0) carries that tangent,
  ``-sum_i weight_ij arrival_dot_ij``, for the network to add to the voltage, so that voltages
  and spike times have the exact derivative with respect to delays and presynaptic spike times
  (an exponential current is discontinuous at arrival; the double exponential is not).

:class:`SynapseQueues` (arrangement ``"per_synapse"``) keeps one event queue per synapse, any
kind from :mod:`adseq_lab.queues`: state ``n_pre * n_post * capacity``.

:class:`SpikeHistory` (arrangement ``"per_neuron"``, memory-lean) keeps the last ``K`` spike
steps of each presynaptic neuron (``(K, n_pre)`` floats with their tangents); every synapse
compares the age of those ``K`` spikes with its own delay and delivers those whose age equals
it. State: ``K * n_pre``; per step ``K`` fused compares per synapse, and the statistics come
from a per-neuron table of delays (``O(K * n_pre)``). It behaves like ``FIFORing[K]`` on a
neuron's longest delay: lossless while no neuron fires more than ``K`` times within its longest
outgoing delay. When a new spike pushes out the oldest one whose arrivals are not all delivered
yet, the undelivered ones are counted as dropped (the newest spikes are kept, where a full
FIFORing drops the new one instead).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from .implementations.base import EventQueue, QueueType, enqueue_if_any
from .spikes import synaptic_jump

__all__ = ["Arrival", "Projection", "SynapseQueues", "SpikeHistory", "NEVER_STEP"]

NEVER_STEP = -1.0e9
"""Spike step of an empty history slot: older than any delay reaches."""

_EXACT = jax.lax.Precision.HIGHEST


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Arrival:
    """One step's deliveries: ``current`` (float32 ``(n_post,)``, the jump of each target's
    synaptic current, ``sum_i weight_ij * hit_ij``, with the tangent of
    :func:`adseq_lab.spikes.synaptic_jump`), ``pending`` (int32, events still in flight after the
    step, all synapses together), ``dropped`` (int32, events lost in this step) and ``charge``
    (float32 ``(n_post,)``, value 0, tangent ``-sum_i weight_ij arrival_dot_ij``: the charge
    moved by shifting the arrivals, to be added to the voltage)."""

    current: jax.Array
    pending: jax.Array
    dropped: jax.Array
    charge: jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Projection:
    """One group of synapses, prepared for a run (built once, outside the time loop).

    - ``weight`` ``(n_pre, n_post)``;
    - ``delay_steps`` ``(n_pre, n_post)`` float32 whole steps, tangent in ms;
    - ``mask`` ``(n_pre, n_post)`` bool or ``None`` (all synapses exist);
    - ``later`` ``(n_pre, max_delay_steps + 2)`` float32: ``later[i, a]`` = number of existing
      synapses of neuron ``i`` whose delay exceeds ``a`` steps (statistics of the history;
      ``None`` unless built with ``max_delay_steps``).
    """

    weight: jax.Array
    delay_steps: jax.Array
    mask: jax.Array | None
    later: jax.Array | None

    @classmethod
    def build(
        cls,
        weight: jax.Array,
        delay_steps: jax.Array,
        mask: jax.Array | None,
        max_delay_steps: int | None = None,
    ) -> Projection:
        if max_delay_steps is None:
            return cls(weight, delay_steps, mask, None)
        width = max_delay_steps + 2
        index = jnp.clip(jax.lax.stop_gradient(delay_steps), 0, width - 1).astype(jnp.int32)
        exists = jnp.ones(index.shape, jnp.float32) if mask is None else mask.astype(jnp.float32)
        per_delay = jax.vmap(lambda i, e: jnp.zeros(width, jnp.float32).at[i].add(e))(index, exists)
        at_least = jnp.cumsum(per_delay[:, ::-1], axis=1)[:, ::-1]
        later = jnp.concatenate([at_least[:, 1:], jnp.zeros_like(at_least[:, :1])], axis=1)
        return cls(weight, delay_steps, mask, later)

    @property
    def shape(self) -> tuple[int, int]:
        return self.weight.shape


@jax.custom_jvp
def _charge_shift(hit: jax.Array, weight: jax.Array) -> jax.Array:
    """``(n_post,)`` zeros whose tangent is ``-sum_i weight_ij hit_dot_ij`` (see the module doc).

    The value is computed from ``hit`` (times 0) rather than as a constant, so ``vmap`` batches
    it like its tangent."""
    return 0.0 * jnp.sum(weight * hit, axis=0)


@_charge_shift.defjvp
def _charge_shift_jvp(primals, tangents):
    hit, weight = primals
    hit_dot, _ = tangents
    return _charge_shift(hit, weight), -jnp.sum(weight * hit_dot, axis=0)


def _masked(due: jax.Array, mask: jax.Array | None) -> jax.Array:
    return due if mask is None else due & mask


def _total(counts: jax.Array) -> jax.Array:
    """Exact int32 total of a non-negative ``(n_pre, n_post)`` count array (row sums first)."""
    return jnp.sum(jnp.sum(counts, axis=-1, dtype=jnp.float32).astype(jnp.int32))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SynapseQueues:
    """One queue per synapse: ``queue`` has batch shape ``(n_pre, n_post)``; ``dropped_total``
    (int32) the events dropped so far."""

    queue: EventQueue
    dropped_total: jax.Array

    @classmethod
    def init(
        cls,
        kind: type[EventQueue] | QueueType,
        n_pre: int,
        n_post: int,
        max_delay_steps: int,
    ) -> SynapseQueues:
        """Empty queues; tangents ride with the events where the kind supports gradients."""
        queue = kind.init(
            max_delay_steps, grad=bool(kind.supports_grad), batch_shape=(n_pre, n_post)
        )
        return cls(queue, jnp.zeros((), jnp.int32))

    def step(
        self,
        spike_step: jax.Array,
        spiked: jax.Array,
        synapses: Projection,
        now: jax.Array,
        tau_syn_ms: jax.Array,
    ) -> tuple[SynapseQueues, Arrival]:
        """Enqueue this step's spikes (``spike_step``, ``spiked``: ``(n_pre,)``), then pop step
        ``now`` (int32); ``tau_syn_ms``: ``()`` or ``(n_post,)``. The enqueue runs only in
        steps where some synapse fires (:func:`~adseq_lab.implementations.base.enqueue_if_any`)."""
        arrival = spike_step[:, None] + synapses.delay_steps
        when = _masked(jnp.broadcast_to(spiked[:, None], arrival.shape), synapses.mask)
        queue = enqueue_if_any(self.queue, arrival, when)
        queue, hit = queue.pop(now)
        dropped_total = _total(queue.dropped)
        current = jnp.sum(synapses.weight * synaptic_jump(hit, tau_syn_ms), axis=0)
        arrivals = Arrival(
            current,
            _total(queue.pending),
            dropped_total - self.dropped_total,
            _charge_shift(hit, synapses.weight),
        )
        return SynapseQueues(queue, dropped_total), arrivals


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SpikeHistory:
    """The last ``K`` spike steps of each presynaptic neuron, newest first: ``(K, n_pre)``.
    Empty slots hold :data:`NEVER_STEP`."""

    spike_step: jax.Array

    @classmethod
    def init(cls, history: int, n_pre: int) -> SpikeHistory:
        return cls(jnp.full((history, n_pre), NEVER_STEP, jnp.float32))

    def step(
        self,
        spike_step: jax.Array,
        spiked: jax.Array,
        synapses: Projection,
        now: jax.Array,
        tau_syn_ms: jax.Array,
    ) -> tuple[SpikeHistory, Arrival]:
        """Record this step's spikes, then deliver the arrivals due at ``now``."""
        oldest = self.spike_step[-1]
        pushed = jnp.concatenate([spike_step[None, :], self.spike_step[:-1]], axis=0)
        history = jnp.where(spiked[None, :], pushed, self.spike_step)
        now = now.astype(jnp.float32)
        age = jax.lax.stop_gradient(now - history)
        current, charge = _history_current(
            synapses.weight, history, synapses.delay_steps, age, synapses.mask, tau_syn_ms
        )

        last = synapses.later.shape[1] - 1
        rows = jnp.arange(history.shape[1])
        slot_age = jnp.clip(age, 0, last).astype(jnp.int32)
        pending = jnp.sum(synapses.later[rows[None, :], slot_age])
        evicted_age = jnp.clip(jax.lax.stop_gradient(now - oldest) - 1, 0, last).astype(jnp.int32)
        lost = jnp.sum(jnp.where(spiked, synapses.later[rows, evicted_age], 0.0))
        arrivals = Arrival(current, pending.astype(jnp.int32), lost.astype(jnp.int32), charge)
        return SpikeHistory(history), arrivals


def _due(delay_steps: jax.Array, age: jax.Array, mask: jax.Array | None) -> list[jax.Array]:
    """Per history slot, which synapses receive that slot's spike now (``delay == age``)."""
    delay = jax.lax.stop_gradient(delay_steps)
    return [_masked(delay == age[slot][:, None], mask) for slot in range(age.shape[0])]


@jax.custom_jvp
def _history_current(weight, history, delay_steps, age, mask, tau_syn_ms):
    """``(current, charge)``, ``(n_post,)`` each: ``sum_i weight_ij * [a spike of i arrives at
    j now]`` and zeros carrying the charge-shift tangent (:attr:`Arrival.charge`).

    One fused pass of ``K`` compares per synapse; a synapse gets at most one arrival per step
    (its history holds distinct spike steps), so the sum is exactly ``weight`` or 0.
    """
    total = jnp.sum(sum(jnp.where(due, weight, 0.0) for due in _due(delay_steps, age, mask)), 0)
    return total, 0.0 * total


@_history_current.defjvp
def _history_current_jvp(primals, tangents):
    weight, history, delay_steps, age, mask, tau_syn_ms = primals
    weight_dot, history_dot, delay_dot = tangents[:3]
    dues = _due(delay_steps, age, mask)
    arrived = functools.reduce(jnp.logical_or, dues)
    total = jnp.sum(jnp.where(arrived, weight, 0.0), axis=0)
    # At most one slot is due per synapse: its spike's tangent plus the delay's is the arrival's.
    # Each slot's spike tangents are spread along the row as a product with ones, not as a
    # broadcast: reverse mode transposes that into a matrix-vector product, where the broadcast
    # would give row sums that XLA CPU runs far slower (grad at n = 100: 21 -> 17 us/step).
    ones = jnp.ones((1, weight.shape[1]), weight.dtype)
    picked = sum(
        jnp.where(due, jnp.dot(history_dot[slot][:, None], ones, precision=_EXACT), 0.0)
        for slot, due in enumerate(dues)
    )
    moved = jnp.sum(weight * jnp.where(arrived, picked + delay_dot, 0.0), axis=0)
    total_dot = jnp.sum(jnp.where(arrived, weight_dot, 0.0), axis=0) + moved / tau_syn_ms
    return (total, 0.0 * total), (total_dot, -moved)
