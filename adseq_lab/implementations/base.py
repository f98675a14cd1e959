"""Shared machinery of the event queues.

Every queue stores *arrival steps*: the time step (an integer, in units of dt) at which an event
is due. With ``grad=True`` the arrival steps are float32 and carry the event's arrival-time
tangent (in ms, the seed's convention) through JAX's ordinary differentiation: a queue operation
moves the tangent with its key through the same index arithmetic (``where``, one-hot reads and
writes, static shifts), so there is one code path for primal and tangent. ``pop`` returns the
number of events it delivered; its tangent is the sum of the delivered events' tangents.

Conventions shared by all kinds:

- ``enqueue(arrival_step, when=True)`` adds one event when ``when`` is true. An event that cannot
  be held is counted in ``dropped`` (int32 per queue), never lost silently.
- ``pop(step)`` delivers every pending event with ``arrival_step <= step`` (so simultaneous
  arrivals all come out at their step) and returns ``(queue, hit)``.
- An event is due at the first popped step ``>= arrival_step`` (the synapse rounds arrival times
  to whole steps, so in practice exactly at its step).
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import jax
import jax.numpy as jnp

from . import rowwise

__all__ = ["BaseQueue", "QueueType", "EventQueue"]

INT_NEVER = jnp.iinfo(jnp.int32).max
FLOAT_NEVER = float(jnp.finfo(jnp.float32).max)

ONE_HOT_LIMIT = 32
"""Buffers up to this length are read and written with one-hot masks over whole rows (elementwise
work and one reduction); longer ones (e.g. a Ring with many slots) with gather/scatter."""


@runtime_checkable
class BaseQueue(Protocol):
    """What every queue offers (the seed's protocol plus drop accounting)."""

    dropped: jax.Array

    def enqueue(self, arrival_step: Any, when: Any = True) -> Self: ...

    def pop(self, step: Any) -> tuple[Self, jax.Array]: ...


def never(dtype: Any) -> Any:
    """The sentinel arrival step of an empty slot: later than any real event."""
    return INT_NEVER if jnp.issubdtype(dtype, jnp.integer) else FLOAT_NEVER


def vacated(dtype: Any) -> Any:
    """Marker of a delivered slot in SortedArray: earlier than any event, so a row stays sorted
    without moving anything on ``pop``."""
    return jnp.iinfo(dtype).min if jnp.issubdtype(dtype, jnp.integer) else -FLOAT_NEVER


def key_dtype(grad: bool) -> Any:
    return jnp.float32 if grad else jnp.int32


def as_arrival(arrival_step: Any, dtype: Any) -> jax.Array:
    """An arrival step in the buffer's dtype; integer buffers round a fractional step up."""
    arrival_step = jnp.asarray(arrival_step)
    if jnp.issubdtype(dtype, jnp.integer):
        if not jnp.issubdtype(arrival_step.dtype, jnp.integer):
            arrival_step = jnp.ceil(arrival_step)
        return arrival_step.astype(dtype)
    return arrival_step.astype(dtype)


def as_step(step: Any) -> jax.Array:
    """The integer step being popped (a float step is floored; its tangent is not used)."""
    step = jnp.asarray(step)
    if not jnp.issubdtype(step.dtype, jnp.integer):
        step = jnp.floor(jax.lax.stop_gradient(step))
    return step.astype(jnp.int32)


def is_due(arrival: jax.Array, step: jax.Array) -> jax.Array:
    return arrival <= step.astype(arrival.dtype)


@jax.custom_jvp
def count_with_tangent(count: jax.Array, carrier: jax.Array) -> jax.Array:
    """``count`` as the value, the tangent of ``carrier`` as the tangent.

    The value of a pop is how many events arrived (a count, exact); its derivative is the sum of
    the arrival-time tangents of those events, which ``carrier`` (a masked sum of the delivered
    arrival steps) carries. The rule is linear in the tangents, so reverse mode transposes it.
    """
    return count


@count_with_tangent.defjvp
def _count_with_tangent_jvp(primals, tangents):
    count, _ = primals
    _, carrier_dot = tangents
    return count, carrier_dot


def sum_last(x: jax.Array, dtype: Any = None) -> jax.Array:
    """Sum over the last axis (one reduction over whole rows)."""
    return jnp.sum(x, axis=-1, dtype=x.dtype if dtype is None else dtype)


def delivered(arrival: jax.Array, due: jax.Array, per_slot: bool = False) -> jax.Array:
    """``hit`` for the events ``due`` in ``arrival`` (a row per queue on the last axis, or one slot
    per queue with ``per_slot``): their number, with their tangents summed."""
    total = (lambda x, dtype=None: x.astype(dtype or x.dtype)) if per_slot else sum_last
    count = total(due, arrival.dtype)
    if jnp.issubdtype(arrival.dtype, jnp.integer):
        return count
    return count_with_tangent(count, total(jnp.where(due, arrival, 0)))


def _shared_index(buffer: jax.Array, position: jax.Array) -> bool:
    """One position for a whole batch of buffers (e.g. the current step's slot of a Ring)."""
    return jnp.ndim(position) == 0 and buffer.ndim > 1


def read(buffer: jax.Array, position: jax.Array, fill: Any) -> jax.Array:
    """``buffer[..., position]``, ``fill`` where ``position`` is outside the row.

    Short rows are one-hot masks and one reduction; a position shared by the whole batch is a
    dynamic slice.
    """
    hi = buffer.shape[-1]
    position = jnp.asarray(position)
    inside = (position >= 0) & (position < hi)
    if _shared_index(buffer, position):
        picked = jax.lax.dynamic_index_in_dim(
            buffer, jnp.clip(position, 0, hi - 1), axis=-1, keepdims=False
        )
        return jnp.where(inside, picked, jnp.asarray(fill, buffer.dtype))
    if hi <= ONE_HOT_LIMIT:
        hot = jnp.arange(hi) == position[..., None]
        picked = jnp.sum(jnp.where(hot, buffer, 0), axis=-1, dtype=buffer.dtype)
        return jnp.where(inside, picked, jnp.asarray(fill, buffer.dtype))
    return jnp.vectorize(
        lambda b, p: b.at[p].get(mode="fill", fill_value=fill), signature="(k),()->()"
    )(buffer, jnp.where(inside, position, -1))


def write(buffer: jax.Array, position: jax.Array, value: Any) -> jax.Array:
    """``buffer`` with ``buffer[..., position] = value``; a position outside the row writes
    nothing (the idiom for a masked write: position ``k``)."""
    return _update(buffer, position, value, accumulate=False)


def add_at(buffer: jax.Array, position: jax.Array, value: Any) -> jax.Array:
    """``buffer`` with ``value`` added at ``position``; outside the row adds nothing."""
    return _update(buffer, position, value, accumulate=True)


def _update(buffer, position, value, accumulate):
    hi = buffer.shape[-1]
    position = jnp.asarray(position)
    value = jnp.asarray(value, buffer.dtype)
    inside = (position >= 0) & (position < hi)
    if _shared_index(buffer, position):
        index = jnp.clip(position, 0, hi - 1)
        current = jax.lax.dynamic_index_in_dim(buffer, index, axis=-1, keepdims=False)
        new = current + value if accumulate else value
        new = jnp.broadcast_to(jnp.where(inside, new, current), buffer.shape[:-1])
        return jax.lax.dynamic_update_index_in_dim(buffer, new, index, axis=-1)
    if buffer.shape[-1] <= ONE_HOT_LIMIT:
        hot = (jnp.arange(buffer.shape[-1]) == position[..., None]) & inside[..., None]
        new = buffer + value[..., None] if accumulate else value[..., None]
        return jnp.where(hot, new, buffer)

    def one(b, p, v):
        return b.at[p].add(v, mode="drop") if accumulate else b.at[p].set(v, mode="drop")

    return jnp.vectorize(one, signature="(k),(),()->(k)")(
        buffer, jnp.where(inside, position, buffer.shape[-1]), value
    )


def check_capacity(capacity: Any, kind: str) -> int:
    if isinstance(capacity, bool):
        raise ValueError(f"{kind}: capacity must be a positive integer (>= 1), got {capacity!r}")
    try:
        capacity = operator.index(capacity)
    except TypeError:
        raise ValueError(
            f"{kind}: capacity must be a positive integer (>= 1), got {capacity!r}"
        ) from None
    if capacity < 1:
        raise ValueError(f"{kind}: capacity must be a positive integer (>= 1), got {capacity}")
    return capacity


def check_max_delay(max_delay_steps: Any, kind: str, upper: int | None = None) -> int | None:
    if max_delay_steps is None:
        return None
    allowed = f"an integer in [0, {upper}]" if upper is not None else "a non-negative integer"
    if isinstance(max_delay_steps, bool):
        raise ValueError(f"{kind}: max_delay_steps must be {allowed}, got {max_delay_steps!r}")
    try:
        max_delay_steps = operator.index(max_delay_steps)
    except TypeError:
        raise ValueError(
            f"{kind}: max_delay_steps must be {allowed}, got {max_delay_steps!r}"
        ) from None
    if max_delay_steps < 0 or (upper is not None and max_delay_steps > upper):
        raise ValueError(f"{kind}: max_delay_steps must be {allowed}, got {max_delay_steps}")
    return max_delay_steps


@dataclasses.dataclass(frozen=True)
class QueueType:
    """A queue kind with a fixed capacity, as returned by ``Kind.sized(capacity)``.

    Behaves like the kind's class for construction: ``QueueType.init(max_delay_steps, grad=...)``.
    Hashable, so it can be a static argument of ``jax.jit``.
    """

    kind: type[EventQueue]
    capacity: int

    @property
    def __name__(self) -> str:  # the seed prints Q.__name__
        return f"{self.kind.__name__}[{self.capacity}]"

    @property
    def supports_grad(self) -> bool:
        return self.kind.supports_grad

    def init(
        self, max_delay_steps: int | None = None, grad: bool = False, batch_shape: tuple = ()
    ) -> EventQueue:
        return self.kind.init(
            max_delay_steps, grad=grad, batch_shape=batch_shape, capacity=self.capacity
        )

    def __repr__(self) -> str:
        return self.__name__


class EventQueue:
    """Base class of the queue kinds: frozen dataclasses registered as JAX pytrees.

    Subclasses define ``init`` (their fields, with leading ``batch_shape``), ``enqueue``, ``pop``
    and ``pending``. The instance is a pure value: every method returns a new queue.
    """

    supports_grad: ClassVar[bool] = True
    has_capacity: ClassVar[bool] = False

    @classmethod
    def sized(cls, capacity: int) -> QueueType:
        """This kind with room for ``capacity`` pending events."""
        if not cls.has_capacity:
            raise ValueError(f"{cls.__name__} has no capacity to size; use {cls.__name__}.init")
        return QueueType(cls, check_capacity(capacity, cls.__name__))

    @property
    def pending(self) -> jax.Array:
        """Number of events held, int32 per queue."""
        raise NotImplementedError

    def enqueue(self, arrival_step: Any, when: Any = True) -> Self:
        raise NotImplementedError

    def pop(self, step: Any) -> tuple[Self, jax.Array]:
        raise NotImplementedError


def queue_dataclass(cls: type) -> type:
    """Make ``cls`` a frozen dataclass and a JAX pytree: fields are arrays, except those marked
    ``metadata=dict(static=True)`` (part of the tree structure).

    Registered as a custom node, not with ``jax.tree_util.register_dataclass``: JAX compares the
    tree structures of two dataclass nodes by their fields alone, so two kinds with the same
    fields (FIFORing and LossyRing, BinaryHeap and BGPQ1) would count as one structure and a
    ``jit`` cache could hand one kind the other's compiled program. A custom node's structure
    includes its class.
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static", False))
    static = tuple(f.name for f in fields if f.metadata.get("static", False))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)

    def flatten_with_keys(queue):
        children = (getattr(queue, name) for name in data)
        return tuple(zip(keys, children, strict=True)), tuple(getattr(queue, n) for n in static)

    def flatten(queue):
        return tuple(getattr(queue, n) for n in data), tuple(getattr(queue, n) for n in static)

    def unflatten(aux, children):
        return cls(**dict(zip(data, children, strict=True)), **dict(zip(static, aux, strict=True)))

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def zeros_dropped(batch_shape: tuple) -> jax.Array:
    return jnp.zeros(batch_shape, jnp.int32)


def count_drop(dropped: jax.Array, lost: jax.Array) -> jax.Array:
    return dropped + lost.astype(jnp.int32)


def enqueue_if_any(queue: EventQueue, arrival_step: Any, when: Any) -> EventQueue:
    """``queue.enqueue(arrival_step, when=when)``, run only in steps where some ``when`` is true
    (``lax.cond``; under ``vmap`` with a batched ``when`` both branches run, same result).

    For many queues stepped together (a synapse per queue), where most steps enqueue nothing: the
    enqueue's result is a stored buffer, so a following ``pop`` reads it instead of XLA
    recomputing the enqueue inside the pop's per-slot work (on CPU, ~3x faster for 10,000
    FIFORing[4] queues).
    """
    return jax.lax.cond(
        jnp.any(when), lambda q: q.enqueue(arrival_step, when=when), lambda q: q, queue
    )


def pop_due(
    arrival: jax.Array, step: Any, per_slot: bool = False, vacated: Any = None
) -> tuple[jax.Array, jax.Array]:
    """Deliver every due event wherever it sits: ``(remaining arrivals, hit)``.

    Delivered slots take the value ``vacated`` (default: empty); slots already holding it are
    not events.
    """
    due = is_due(arrival, as_step(step))
    if vacated is None:
        vacated = never(arrival.dtype)
    else:
        due = due & (arrival != vacated)
    if per_slot or not jnp.issubdtype(arrival.dtype, jnp.floating):
        return jnp.where(due, vacated, arrival), delivered(arrival, due, per_slot)
    remaining, carrier = rowwise.take(arrival, due, vacated)
    return remaining, count_with_tangent(sum_last(due, arrival.dtype), carrier)


def first_empty(buffer: jax.Array) -> jax.Array:
    """Index of the first empty slot of each row (last axis), ``k`` where the row is full."""
    length = buffer.shape[-1]
    slots = jnp.where(buffer == never(buffer.dtype), jnp.arange(length), length)
    return jnp.min(slots, axis=-1).astype(jnp.int32)


def count_pending(arrival: jax.Array) -> jax.Array:
    """Events held per queue (slots of the last axis neither empty nor vacated)."""
    real = (arrival != never(arrival.dtype)) & (arrival != vacated(arrival.dtype))
    return sum_last(real, jnp.int32)
