"""What the seed-compatible synapse kinds share: a delayed spike travels through an event queue.

A synapse (or ``n`` of them, batched) detects a presynaptic spike, enqueues its arrival step and
pops the current step, every call:

- arrival time ``t_ms + delay_ms`` (ms), arrival step ``round((t_ms + delay_ms) / dt_ms)``
  (rounded, not truncated: at dt 0.1 ms a 1.26 ms delay arrives 13 steps after the spike step,
  1.24 ms after 12). The event is enqueued *before* this step's pop, so a delay of 0 arrives in
  the spike's own step and a delay of exactly ``max_delay_ms`` is still held.
- ``hit`` is the number of events arriving now (float32); its tangent is the sum of their
  arrival-time tangents (ms), which :func:`adseq_lab.spikes.synaptic_jump` turns into the
  current's derivative.

Delays: a concrete delay outside ``[0, max_delay_ms]`` is a ``ValueError``. A traced delay
(training) is clamped into that range (zero derivative where clamped) and each event sent with a
clamped delay is counted in ``clamped`` (int32 per synapse), never wrapped around a ring buffer.

A kind (:mod:`adseq_lab.synapse`, :mod:`adseq_lab.synapse2`) subclasses :class:`DelayedSynapse`
and states only its currents, its parameters and how one step updates the currents.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, ClassVar, Self

import jax
import jax.numpy as jnp
import numpy as np

from .implementations import EventQueue, QueueType
from .implementations.base import enqueue_if_any
from .spikes import crossing, time_to_step

__all__ = ["DelayedSynapse", "static_field"]


def static_field() -> Any:
    """A dataclass field that is pytree metadata (hashable, fixed under ``jit``)."""
    return dataclasses.field(metadata=dict(static=True))


def concrete(x: Any) -> np.ndarray | None:
    """``x`` as a NumPy array, or ``None`` when it is traced (inside ``jit``, ``grad``, ...)."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def check_dt(dt_ms: Any) -> float:
    """``dt_ms`` as a Python float: a concrete positive finite number (it fixes the time grid)."""
    if isinstance(dt_ms, bool) or not isinstance(dt_ms, numbers.Real | np.ndarray | jax.Array):
        raise ValueError(f"dt_ms must be a positive number of ms, got {dt_ms!r}")
    value = concrete(dt_ms)
    if value is None or value.shape != ():
        raise ValueError("dt_ms must be a concrete positive scalar (ms); it fixes the time grid")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"dt_ms must be a positive finite number of ms, got {value}")
    return value


def check_positive(name: str, value: Any) -> jax.Array:
    """A time constant as a float32 scalar array; ``ValueError`` unless (concretely) > 0."""
    array = jnp.asarray(value, jnp.float32)
    if array.shape != ():
        raise ValueError(f"{name} must be a scalar (ms), got shape {array.shape}")
    known = concrete(value)
    if known is not None and not (np.isfinite(known) and known > 0):
        raise ValueError(f"{name} must be a positive finite number of ms, got {float(known)}")
    return array


def check_scalar(name: str, value: Any) -> jax.Array:
    array = jnp.asarray(value, jnp.float32)
    if array.shape != ():
        raise ValueError(f"{name} must be a scalar, got shape {array.shape}")
    known = concrete(value)
    if known is not None and not np.isfinite(known):
        raise ValueError(f"{name} must be finite, got {float(known)}")
    return array


def check_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n (number of synapses) must be a positive integer, got {n!r}")
    return int(n)


def delay_steps(max_delay_ms: float, dt_ms: float) -> int:
    """Steps the queues must reach: ``ceil(max_delay_ms / dt_ms)``, ignoring float noise
    (1.1 ms at 0.1 ms is 11 steps, not 12)."""
    return math.ceil(round(max_delay_ms / dt_ms, 6))


def check_delays(
    delay_ms: Any, shape: tuple[int, ...], max_delay_ms: float | None, name: str = "delay_ms"
) -> jax.Array:
    """Delays broadcast to the synapses' ``shape`` (float32, ms).

    Accepts a scalar, shape ``(1,)`` or ``shape``. Concrete delays must lie in
    ``[0, max_delay_ms]`` (``ValueError`` otherwise); traced ones are clamped when used.
    """
    array = jnp.asarray(delay_ms, jnp.float32)
    if array.shape not in ((), (1,), shape):
        raise ValueError(
            f"{name} must have shape () or (1,) or {shape} (one delay per synapse), "
            f"got {array.shape}"
        )
    known = concrete(delay_ms)
    if known is not None:
        known = known.astype(np.float32)
        upper = np.inf if max_delay_ms is None else max_delay_ms
        bad = ~((known >= 0) & (known <= upper))
        if np.any(bad):
            where = np.argwhere(np.atleast_1d(bad))[0].tolist()
            value = np.atleast_1d(known)[tuple(where)]
            allowed = "be >= 0" if max_delay_ms is None else f"lie in [0, {max_delay_ms=}]"
            raise ValueError(
                f"{name} must {allowed} ms; {int(np.sum(bad))} delay(s) outside, "
                f"e.g. {float(value)} at index {where}"
            )
    if array.shape == (1,) and shape == ():
        array = array.reshape(())
    return jnp.broadcast_to(array, shape)


def resolve_max_delay(max_delay_ms: Any, delay_ms: Any) -> float:
    """``max_delay_ms`` as a float; defaults to the largest concrete delay (the seed's rule)."""
    if max_delay_ms is None:
        known = None if delay_ms is None else concrete(delay_ms)
        if known is None:
            raise ValueError(
                "max_delay_ms is required when delay_ms is traced or not given; it sizes the "
                "queues (inside jit, a jnp.array of delays is traced: pass max_delay_ms or use a "
                "NumPy array)"
            )
        known = known.astype(np.float32)
        if not np.all(known >= 0):  # negative or NaN: reported as a bad delay
            check_delays(delay_ms, known.shape, None)
        max_delay_ms = float(np.max(known)) if known.size else 0.0
    value = concrete(max_delay_ms)
    if value is None or value.shape != ():
        raise ValueError("max_delay_ms must be a concrete scalar (ms); it sizes the queues")
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"max_delay_ms must be a finite number >= 0 (ms), got {value}")
    return value


def queue_options_key(queue_options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(queue_options.items()))


def empty_queue(
    Q: type[EventQueue] | QueueType,
    max_delay_steps: int,
    grad: bool,
    shape: tuple[int, ...],
    queue_options: tuple[tuple[str, Any], ...],
    max_delay_ms: float,
    dt_ms: float,
) -> EventQueue:
    """``Q.init`` for ``shape`` synapses, with errors phrased in the synapse's terms."""
    if not hasattr(Q, "init"):
        raise ValueError(
            f"Q must be a queue kind from adseq_lab.implementations (e.g. FIFORing.sized(4)), "
            f"got {Q!r}"
        )
    name = getattr(Q, "__name__", repr(Q))
    if grad and not getattr(Q, "supports_grad", True):
        raise ValueError(
            f"{name} carries no gradients (integer slots); pass grad=False for a forward-only "
            "synapse, or choose a gradient-capable queue kind"
        )
    try:
        return Q.init(max_delay_steps, grad=grad, batch_shape=shape, **dict(queue_options))
    except ValueError as error:
        raise ValueError(
            f"max_delay_ms={max_delay_ms} is {max_delay_steps} steps at dt_ms={dt_ms}: {error}"
        ) from None


def per_synapse(name: str, value: Any, shape: tuple[int, ...], dtype: Any = jnp.float32):
    """``value`` checked to have the synapses' ``shape``."""
    array = jnp.asarray(value, dtype)
    if array.shape != shape:
        raise ValueError(
            f"{name} must have shape {shape} (one value per synapse), got {array.shape}"
        )
    return array


def check_time(name: str, t_ms: Any) -> jax.Array:
    array = jnp.asarray(t_ms, jnp.float32)
    if array.shape != ():
        raise ValueError(f"{name} must be a scalar time in ms, got shape {array.shape}")
    return array


@dataclasses.dataclass(frozen=True)
class DelayedSynapse:
    """Fields shared by the synapse kinds (``S`` = the synapses' shape, ``()`` or ``(n,)``):

    - ``queue``: the event queues, batch shape ``S``;
    - ``delay_ms``: default delays (ms), ``S``; ``vthres``: spike threshold, scalar;
    - ``clamped``: int32 ``S``, events sent with a delay clamped into ``[0, max_delay_ms]``;
    - static: ``dt_ms``, ``max_delay_ms``, ``grad`` and the queue type and options (for
      :meth:`reset`).

    A kind adds its current fields (named in :attr:`currents`) and parameter fields, checks its
    parameters in :meth:`_check_parameters` and updates the currents in :meth:`_receive`.
    """

    queue: EventQueue
    delay_ms: jax.Array
    vthres: jax.Array
    clamped: jax.Array
    dt_ms: float = static_field()
    max_delay_ms: float = static_field()
    grad: bool = static_field()
    queue_type: Any = static_field()
    queue_options: tuple[tuple[str, Any], ...] = static_field()

    currents: ClassVar[tuple[str, ...]]
    """The kind's current fields (float32, shape ``S``): zero in new and reset synapses."""

    @staticmethod
    def _check_parameters(**parameters: Any) -> dict[str, jax.Array]:
        """The kind's parameters (time constants in ms) checked, as field values."""
        raise NotImplementedError

    def _receive(self, hit: jax.Array) -> Self:
        """The currents after one step of ``dt_ms`` in which ``hit`` (``S``) events arrived."""
        raise NotImplementedError

    @classmethod
    def create(
        cls,
        Q: type[EventQueue] | QueueType,
        shape: tuple[int, ...],
        delay_ms: Any,
        dt_ms: Any,
        vthres: Any,
        max_delay_ms: Any,
        grad: bool,
        queue_options: dict[str, Any],
        **parameters: Any,
    ) -> Self:
        """Synapses of ``shape`` with empty queues and zero currents.

        ``delay_ms``: default delays (ms; ``None`` is 0 and then ``max_delay_ms`` is required);
        ``parameters``: the kind's own, checked after ``dt_ms`` and before ``vthres``.
        """
        dt_ms = check_dt(dt_ms)
        checked = cls._check_parameters(**parameters)
        vthres = check_scalar("vthres", vthres)
        max_delay_ms = resolve_max_delay(max_delay_ms, delay_ms)
        delays = check_delays(0.0 if delay_ms is None else delay_ms, shape, max_delay_ms)
        options = queue_options_key(queue_options)
        queue = empty_queue(
            Q, delay_steps(max_delay_ms, dt_ms), grad, shape, options, max_delay_ms, dt_ms
        )
        return cls(
            queue=queue,
            delay_ms=delays,
            vthres=vthres,
            clamped=jnp.zeros(shape, jnp.int32),
            dt_ms=dt_ms,
            max_delay_ms=max_delay_ms,
            grad=bool(grad),
            queue_type=Q,
            queue_options=options,
            **{name: jnp.zeros(shape, jnp.float32) for name in cls.currents},
            **checked,
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.delay_ms.shape)

    @property
    def max_delay_steps(self) -> int:
        return delay_steps(self.max_delay_ms, self.dt_ms)

    @property
    def dropped(self) -> jax.Array:
        """Events the queues could not hold, int32 per synapse (cumulative)."""
        return self.queue.dropped

    @property
    def pending(self) -> jax.Array:
        """Events in flight, int32 per synapse."""
        return self.queue.pending

    def _empty_queue(self) -> EventQueue:
        return empty_queue(
            self.queue_type,
            self.max_delay_steps,
            self.grad,
            self.shape,
            self.queue_options,
            self.max_delay_ms,
            self.dt_ms,
        )

    def _usable_delay(self, delay_ms: Any) -> tuple[jax.Array, jax.Array]:
        """``(delay, clamped)``: delays inside ``[0, max_delay_ms]`` and where clamping acted."""
        delay = (
            self.delay_ms
            if delay_ms is None
            else check_delays(delay_ms, self.shape, self.max_delay_ms)
        )
        inside = (delay >= 0) & (delay <= self.max_delay_ms)
        limit = jnp.where(delay > self.max_delay_ms, self.max_delay_ms, 0.0)
        return jnp.where(inside, delay, limit), ~inside

    def _send_and_receive(
        self, t_ms: jax.Array, fire: jax.Array, arrival_ms: jax.Array, clamped: jax.Array
    ) -> tuple[Self, jax.Array]:
        """Enqueue ``arrival_ms`` where ``fire`` (only in steps where some synapse fires:
        :func:`~adseq_lab.implementations.base.enqueue_if_any`), then pop step
        ``round(t_ms / dt_ms)``."""
        queue = enqueue_if_any(self.queue, time_to_step(arrival_ms, self.dt_ms), fire)
        step = jnp.round(jax.lax.stop_gradient(t_ms) / self.dt_ms).astype(jnp.int32)
        queue, hit = queue.pop(step)
        counted = self.clamped + (fire & clamped).astype(jnp.int32)
        return dataclasses.replace(self, queue=queue, clamped=counted), hit.astype(jnp.float32)

    def reset(self) -> Self:
        """The same synapses with empty queues, zero currents and counters (a new trial)."""
        return dataclasses.replace(
            self,
            queue=self._empty_queue(),
            clamped=jnp.zeros_like(self.clamped),
            **{name: jnp.zeros_like(getattr(self, name)) for name in self.currents},
        )

    def _detect(self, t_ms, v, vnext, delay_ms, time_name: str) -> Self:
        """One step: send a spike where ``v < vthres <= vnext`` (shape ``S``), receive arrivals.

        ``time_name`` is the seed's name of the time argument, for error messages.
        """
        t_ms = check_time(time_name, t_ms)
        v = per_synapse("v", v, self.shape)
        vnext = per_synapse("vnext", vnext, self.shape)
        delay, clamped = self._usable_delay(delay_ms)
        spiked, spike_ms = crossing(t_ms, v, vnext, self.vthres, self.dt_ms)
        # Only firing synapses enqueue (``when=spiked``), so the others' arrivals are left as they
        # are: no select whose mask reverse mode would keep per step.
        syn, hit = self._send_and_receive(t_ms, spiked, spike_ms + delay, clamped)
        return syn._receive(hit)

    def _static(self, t_ms, s, delay_ms, time_name: str) -> Self:
        """One step: send a spike where ``s`` (shape ``S``) is nonzero, receive arrivals."""
        t_ms = check_time(time_name, t_ms)
        fire = per_synapse("s", s, self.shape, dtype=None) != 0
        delay, clamped = self._usable_delay(delay_ms)
        syn, hit = self._send_and_receive(t_ms, fire, t_ms + delay, clamped)
        return syn._receive(hit)
