"""``DelaySynapse``: a jaxley synapse whose spikes travel through an adseq-lab event queue.

The seed's use (jaxley 0.14)::

    jx.connect(net.cell(0).branch(0).loc(0.0), net.cell(1).branch(0).loc(0.0),
               DelaySynapse(vthres=10.0))
    net.set("DelaySynapse_delay", 10.0)       # ms
    net.set("DelaySynapse_weight", 0.05)      # nA
    net.make_trainable("DelaySynapse_delay")  # gradients through jx.integrate, both modes

Parameters, one per synapse: ``DelaySynapse_delay`` (ms, in ``[0, max_delay_ms]``),
``DelaySynapse_weight`` (nA: the peak of the current a spike causes; positive depolarises),
``DelaySynapse_tau1 < DelaySynapse_tau2`` (ms, the rise and decay of the peak-normalised
double-exponential current of :mod:`adseq_lab.synapse2`). The prefix is the synapse's name.

How jaxley runs a synapse, and what that fixes. In each step ``k`` jaxley calls
``update_states`` with the voltages at the start of the step (``v_k``, recording index ``k``),
then ``compute_current`` on the updated states, then solves for ``v_{k+1}``; neither call is
told the time. So:

- the synapse keeps the previous presynaptic voltage (state ``_vprev``) and counts steps
  (state ``_step``, one clock shared by all synapses of the type);
- a spike is the first sample at or above ``vthres``: ``v_{k-1} < vthres <= v_k`` is a spike at
  ``t_k = k dt`` (its tangent is the threshold-crossing time's,
  :func:`adseq_lab.spikes.crossing`, so delay, weight and upstream gradients reach it);
- it arrives at step ``a = k + round(delay / dt)``, where both exponentials jump by 1: the
  current of step ``a`` (their difference) is still 0 and rises from step ``a + 1``; jaxley uses
  the current of step ``j`` for ``v_{j+1}`` and records it at index ``j + 1``. So the recorded
  current (``i_<name>``) and the postsynaptic voltage first change at index
  ``k + round(delay / dt) + 2``; every step of delay adds one. Delay 0 is the minimum: a spike
  is known only from the sample that crossed, so no synapse acts within the step in which its
  spike is seen.

Limitations forced by jaxley's synapse API (tested at their boundaries):

- states must be flat per-synapse scalars, so the queue is stored as one jaxley state per slot
  (``_queue_arrival_step0 ... k-1``, ``_queue_dropped``, ...); a kind sized by the delay range
  (``Ring``: ``2 (max_delay_ms / dt_ms + 1) + 2`` states) needs ``dt_ms`` and is refused above
  :data:`MAX_QUEUE_STATES` states per synapse: use ``FIFORing.sized(k)``;
- jaxley keeps states as floats: the step counter and the integer counters are exact up to
  ``2**24`` (float32), i.e. simulations up to ``2**24`` steps (about 7 minutes at 0.025 ms);
- ``net.set`` does not validate values: a concrete delay outside ``[0, max_delay_ms]`` raises
  ``ValueError`` when ``jx.integrate`` runs; a traced one (inside ``jit``/``grad``) is clamped
  into the range and every spike sent with a clamped delay is counted in the state
  ``_clamped``; events a queue cannot hold are counted in ``_queue_dropped``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxley.synapses import Synapse

from .. import implementations
from ..implementations import EventQueue, FIFORing, QueueType, SingleSpike
from ..spikes import crossing, synaptic_jump, time_to_step
from ..synapse2 import peak_normaliser
from ..synapse_base import check_dt, concrete, delay_steps

__all__ = ["DelaySynapse", "MAX_QUEUE_STATES", "implementations", "SingleSpike", "FIFORing"]

MAX_QUEUE_STATES = 256
"""Most jaxley states one synapse's queue may take (each is a column of jaxley's edge table and a
separate array in its scan carry; compile time grows with their number)."""

DEFAULT_DELAY_MS = 20.0
DEFAULT_QUEUE = FIFORing.sized(4)


@dataclasses.dataclass(frozen=True)
class _Leaf:
    """One array of the queue pytree, stored as ``size`` jaxley states named ``names``."""

    names: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: Any


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return float(value)


def _jump(hit: jax.Array, tau_ms: jax.Array) -> jax.Array:
    """:func:`adseq_lab.spikes.synaptic_jump` in the queue's float32, whatever jaxley's dtype
    (with ``jax_enable_x64`` jaxley's parameters are float64)."""
    return synaptic_jump(hit, jnp.asarray(tau_ms, jnp.float32))


def _field(path: tuple) -> str:
    return "_".join(str(getattr(key, "name", getattr(key, "key", key))) for key in path)


class DelaySynapse(Synapse):
    """A current-based synapse with a per-synapse delay, any gradient-capable queue kind.

    ``vthres``: presynaptic spike threshold (mV). ``queue``: the event queue kind (default
    ``FIFORing.sized(4)``: four spikes in flight per synapse, in order, lossless for one delay per
    synapse; ``SingleSpike`` keeps only the latest). ``max_delay_ms``: the largest delay (the
    seed's ``SigmoidTransform(0.1, 50.0)`` needs 50). ``dt_ms``: only for kinds sized by the delay
    range (``Ring``); then ``jx.integrate``'s ``delta_t`` must equal it.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        vthres: float = 10.0,
        queue: type[EventQueue] | QueueType = DEFAULT_QUEUE,
        max_delay_ms: float = 50.0,
        dt_ms: float | None = None,
    ):
        super().__init__(name)
        self.vthres = _finite("vthres", vthres)
        self.max_delay_ms = _finite("max_delay_ms", max_delay_ms)
        if self.max_delay_ms < 0:
            raise ValueError(f"max_delay_ms must be >= 0 (ms), got {self.max_delay_ms}")
        self.dt_ms = None if dt_ms is None else check_dt(dt_ms)
        self.queue = queue
        template = self._template()
        self._treedef = jax.tree.structure(template)
        self._leaves = self._layout(template)
        prefix = self._name
        self.synapse_params = {
            f"{prefix}_delay": min(DEFAULT_DELAY_MS, self.max_delay_ms),
            f"{prefix}_weight": 0.01,
            f"{prefix}_tau1": 0.5,
            f"{prefix}_tau2": 2.0,
        }
        self.synapse_states = {
            f"{prefix}_vprev": 0.0,
            f"{prefix}_step": 0.0,
            f"{prefix}_isyn1": 0.0,
            f"{prefix}_isyn2": 0.0,
            f"{prefix}_clamped": 0.0,
        }
        for leaf, values in zip(self._leaves, jax.tree.leaves(template), strict=True):
            for suffix, value in zip(leaf.names, np.ravel(values), strict=True):
                self.synapse_states[f"{prefix}_{suffix}"] = float(value)

    def _template(self) -> EventQueue:
        """One empty queue (no batch dimension)."""
        kind = getattr(self.queue, "__name__", repr(self.queue))
        if not hasattr(self.queue, "init"):
            raise ValueError(
                "queue must be a queue kind from adseq_lab.implementations (e.g. "
                f"FIFORing.sized(4)), got {self.queue!r}"
            )
        if not getattr(self.queue, "supports_grad", True):
            raise ValueError(
                f"queue {kind} carries no gradients (integer slots); DelaySynapse needs a "
                "gradient-capable kind (adseq_lab.queues.info(name).supports_grad)"
            )
        steps = None if self.dt_ms is None else delay_steps(self.max_delay_ms, self.dt_ms)
        try:
            return self.queue.init(steps, grad=True)
        except ValueError as error:
            raise ValueError(
                f"queue {kind} is sized by the delay range: pass dt_ms (the delta_t of "
                f"jx.integrate) so max_delay_ms / dt_ms gives its slots ({error})"
            ) from None

    def _layout(self, template: EventQueue) -> tuple[_Leaf, ...]:
        leaves = []
        for path, value in jax.tree_util.tree_flatten_with_path(template)[0]:
            field = f"queue_{_field(path)}"
            shape = tuple(np.shape(value))
            size = math.prod(shape)
            names = (field,) if shape == () else tuple(f"{field}{j}" for j in range(size))
            leaves.append(_Leaf(names, shape, jnp.asarray(value).dtype))
        total = sum(len(leaf.names) for leaf in leaves)
        if total > MAX_QUEUE_STATES:
            kind = getattr(self.queue, "__name__", repr(self.queue))
            raise ValueError(
                f"queue {kind} with max_delay_ms={self.max_delay_ms} and dt_ms={self.dt_ms} "
                f"needs {total} jaxley states per synapse (jaxley stores synapse state as "
                f"scalars); at most MAX_QUEUE_STATES={MAX_QUEUE_STATES}: use FIFORing.sized(k) "
                "or a smaller max_delay_ms"
            )
        return tuple(leaves)

    def _check_delta_t(self, delta_t: Any) -> float:
        dt = check_dt(delta_t)
        if self.dt_ms is not None and not math.isclose(dt, self.dt_ms, rel_tol=1e-9):
            raise ValueError(
                f"jx.integrate ran with delta_t={dt} but this DelaySynapse was built with "
                f"dt_ms={self.dt_ms} (it sizes the queue); they must be equal"
            )
        return dt

    def _queue(self, states: dict[str, jax.Array], n: int) -> EventQueue:
        prefix = self._name
        arrays = []
        for leaf in self._leaves:
            columns = [states[f"{prefix}_{name}"] for name in leaf.names]
            array = columns[0] if leaf.shape == () else jnp.stack(columns, axis=-1)
            arrays.append(array.reshape((n, *leaf.shape)).astype(leaf.dtype))
        return jax.tree.unflatten(self._treedef, arrays)

    def _queue_states(self, queue: EventQueue, n: int, dtype: Any) -> dict[str, jax.Array]:
        prefix = self._name
        out = {}
        for leaf, array in zip(self._leaves, jax.tree.leaves(queue), strict=True):
            columns = array.reshape(n, len(leaf.names)).astype(dtype)
            for j, name in enumerate(leaf.names):
                out[f"{prefix}_{name}"] = columns[:, j]
        return out

    def _usable_delay(self, delay: jax.Array) -> tuple[jax.Array, jax.Array]:
        known = concrete(delay)
        if known is not None and not np.all((known >= 0) & (known <= self.max_delay_ms)):
            raise ValueError(
                f"{self._name}_delay must lie in [0, {self.max_delay_ms}] ms (max_delay_ms), "
                f"got values in [{known.min()}, {known.max()}]"
            )
        inside = (delay >= 0) & (delay <= self.max_delay_ms)
        limit = jnp.where(delay > self.max_delay_ms, self.max_delay_ms, 0.0)
        return jnp.where(inside, delay, limit), ~inside  # derivative 1 up to the bounds

    def _time_constants(self, params: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        prefix = self._name
        tau1, tau2 = params[f"{prefix}_tau1"], params[f"{prefix}_tau2"]
        known1, known2 = concrete(tau1), concrete(tau2)
        if (
            known1 is not None
            and known2 is not None
            and not np.all((0 < known1) & (known1 < known2))
        ):
            raise ValueError(
                f"{prefix}_tau1 and {prefix}_tau2 must satisfy 0 < tau1 < tau2 (ms), got tau1 "
                f"in [{known1.min()}, {known1.max()}] and tau2 in [{known2.min()}, {known2.max()}]"
            )
        return tau1, tau2

    def update_states(
        self,
        states: dict[str, jax.Array],
        delta_t: float,
        pre_voltage: jax.Array,
        post_voltage: jax.Array,
        params: dict[str, jax.Array],
    ) -> dict[str, jax.Array]:
        """One step for all synapses of this type (arrays ``(n_synapses,)``): detect the
        presynaptic spike, enqueue its arrival, deliver the arrivals due now."""
        prefix = self._name
        dt = self._check_delta_t(delta_t)
        step = states[f"{prefix}_step"]
        n, dtype = step.shape[0], step.dtype
        delay, clamped = self._usable_delay(params[f"{prefix}_delay"])
        tau1, tau2 = self._time_constants(params)
        spiked, spike_ms = crossing(
            step * dt, states[f"{prefix}_vprev"], pre_voltage, self.vthres, dt
        )
        spiked = spiked & (step > 0)
        queue = self._queue(states, n).enqueue(time_to_step(spike_ms + delay, dt), when=spiked)
        queue, hit = queue.pop(step[0].astype(jnp.int32))  # one clock for all synapses
        isyn1 = jnp.exp(-dt / tau1) * states[f"{prefix}_isyn1"] + _jump(hit, tau1)
        isyn2 = jnp.exp(-dt / tau2) * states[f"{prefix}_isyn2"] + _jump(hit, tau2)
        return {
            f"{prefix}_vprev": jnp.asarray(pre_voltage, dtype),
            f"{prefix}_step": step + 1,
            f"{prefix}_isyn1": isyn1.astype(dtype),
            f"{prefix}_isyn2": isyn2.astype(dtype),
            f"{prefix}_clamped": states[f"{prefix}_clamped"] + (spiked & clamped).astype(dtype),
            **self._queue_states(queue, n, dtype),
        }

    def compute_current(
        self,
        states: dict[str, jax.Array],
        pre_voltage: jax.Array,
        post_voltage: jax.Array,
        params: dict[str, jax.Array],
    ) -> jax.Array:
        """Current in nA, positive outward (jaxley's sign): ``-weight (isyn2 - isyn1) / denom``,
        so a positive weight depolarises and a lone spike peaks at ``weight``."""
        prefix = self._name
        tau1, tau2 = params[f"{prefix}_tau1"], params[f"{prefix}_tau2"]
        isyn = (states[f"{prefix}_isyn2"] - states[f"{prefix}_isyn1"]) / peak_normaliser(tau1, tau2)
        return -params[f"{prefix}_weight"] * isyn
