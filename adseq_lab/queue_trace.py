"""The history of queues fed a stream of events: what each held, popped and dropped at each step.

For the queue explorer, tutorials and tests. A stream gives each queue at most one event per step
(emitted at step ``t``, due at its whole arrival step ``t + delay``, with a tangent in ms). At
every step each queue first enqueues that step's event, then pops the step, like a synapse. The
run is one ``lax.scan`` of the library's queues; kinds with gradients run under ``jax.jvp`` so the
held events' tangents and each pop's tangent are the queue's own, not recomputed here.

>>> stream = poisson_stream(steps=50, rate=0.3, delay_steps=6, seed=1)
>>> history = trace_queue("fifo_ring", stream, capacity=2)
>>> history.queue_name, len(history.entered) == int(stream.emitted.sum())
('FIFORing[2]', True)
>>> left = history.popped.count.sum() + history.lost.count.sum() + history.pending[-1].sum()
>>> bool(left == stream.emitted.sum())  # every event popped, dropped or still held
True
"""

from __future__ import annotations

import dataclasses
import numbers
import operator

import jax
import jax.numpy as jnp
import numpy as np

from . import queues
from .implementations import BitArray32, DoNothing, EventQueue, Ring, SingleSpike
from .implementations.array_queue import ArrayQueue
from .implementations.base import never
from .implementations.heap import HeapQueue

__all__ = ["EventStream", "EventTable", "QueueTrace", "poisson_stream", "trace_queue"]

MAX_STEPS = 10_000
MAX_BATCH = 64


@dataclasses.dataclass(frozen=True)
class EventStream:
    """Events for ``batch`` queues over ``steps`` steps, all ``(steps, batch)``.

    ``emitted``: whether queue ``b`` receives an event at step ``t``; ``arrival_step``: its due
    step (int32, ``>= t``; ignored where not emitted); ``tangent``: its arrival-time tangent (ms).
    """

    emitted: np.ndarray
    arrival_step: np.ndarray
    tangent: np.ndarray

    def __post_init__(self) -> None:
        shapes = {self.emitted.shape, self.arrival_step.shape, self.tangent.shape}
        if len(shapes) != 1 or self.emitted.ndim != 2:
            raise ValueError(
                "emitted, arrival_step and tangent must share one shape (steps, batch), got "
                f"{self.emitted.shape}, {self.arrival_step.shape}, {self.tangent.shape}"
            )
        steps = np.arange(self.steps)[:, None]
        if np.any(self.emitted & (self.arrival_step < steps)):
            raise ValueError("arrival_step must be >= the step the event is emitted at")

    @property
    def steps(self) -> int:
        return self.emitted.shape[0]

    @property
    def batch(self) -> int:
        return self.emitted.shape[1]

    @property
    def max_delay_steps(self) -> int:
        """The longest delay in the stream (steps); 0 for an empty stream."""
        delays = self.arrival_step - np.arange(self.steps)[:, None]
        return int(np.max(np.where(self.emitted, delays, 0), initial=0))


@dataclasses.dataclass(frozen=True)
class EventTable:
    """Events as columns of equal length: ``step`` they happened at, ``queue`` index,
    ``arrival_step``, ``count`` (events with that arrival step) and their summed ``tangent``
    (ms; NaN for kinds without gradients)."""

    step: np.ndarray
    queue: np.ndarray
    arrival_step: np.ndarray
    count: np.ndarray
    tangent: np.ndarray

    def __len__(self) -> int:
        return len(self.step)


@dataclasses.dataclass(frozen=True)
class QueueTrace:
    """One queue kind's history over a stream; ``T`` steps, ``B`` queues, ``K`` places.

    ``hit``/``hit_tangent`` (T, B): what ``pop`` returned; ``pending`` (T, B): events held after
    the step; ``dropped`` (T, B): the queue's cumulative drop counter. ``held_arrival``,
    ``held_count``, ``held_tangent`` (T, B, K): what each queue holds after the step (arrival step,
    NaN for an empty place; how many events; their summed tangent). ``entered``, ``popped`` and
    ``lost`` list the events that entered the queue, left it by a pop, or were dropped.
    """

    kind: str
    queue_name: str
    max_delay_steps: int
    capacity: int | None
    has_tangents: bool
    hit: np.ndarray
    hit_tangent: np.ndarray
    pending: np.ndarray
    dropped: np.ndarray
    held_arrival: np.ndarray
    held_count: np.ndarray
    held_tangent: np.ndarray
    entered: EventTable
    popped: EventTable
    lost: EventTable

    @property
    def steps(self) -> int:
        return self.hit.shape[0]


def _checked_int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value}")
    return value


def poisson_stream(
    steps: int,
    batch: int = 1,
    rate: float = 0.2,
    delay_steps: int = 5,
    delay_spread: int = 0,
    seed: int = 0,
) -> EventStream:
    """A seeded stream: each queue gets an event at each step with probability ``rate``.

    Delays (steps) are drawn uniformly from ``delay_steps ± delay_spread`` (whole steps, at least
    0); tangents from a standard normal (ms). ``ValueError`` names any argument out of range.
    """
    steps = _checked_int(steps, "steps", 1, MAX_STEPS)
    batch = _checked_int(batch, "batch", 1, MAX_BATCH)
    delay_steps = _checked_int(delay_steps, "delay_steps", 0, MAX_STEPS)
    delay_spread = _checked_int(delay_spread, "delay_spread", 0, delay_steps)
    seed = _checked_int(seed, "seed", 0, 2**32 - 1)
    if isinstance(rate, bool) or not (isinstance(rate, numbers.Real) and 0.0 <= rate <= 1.0):
        raise ValueError(f"rate must be a probability per step in [0, 1], got {rate!r}")
    rng = np.random.default_rng(seed)
    emitted = rng.random((steps, batch)) < rate
    delays = rng.integers(
        delay_steps - delay_spread, delay_steps + delay_spread + 1, (steps, batch)
    )
    arrival = (np.arange(steps)[:, None] + delays).astype(np.int32)
    tangent = rng.standard_normal((steps, batch)).astype(np.float32)
    return EventStream(emitted, arrival, np.where(emitted, tangent, np.float32(0.0)))


def _held(queue: EventQueue) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(arrival, count, carrier)`` of what ``queue`` holds, ``batch + (K,)`` each.

    ``arrival``: float32 arrival step per place (NaN if empty); ``count``: events there;
    ``carrier``: an array whose tangent is the summed tangent of those events.
    """
    if isinstance(queue, ArrayQueue | HeapQueue | SingleSpike):
        keys = queue.arrival_step
        keys = keys[..., None] if isinstance(queue, SingleSpike) else keys
        # a place holds an event unless it is empty (``never``) or a negative marker of a
        # delivered slot; stream arrivals are steps >= 0, so no event is ever negative
        held = (keys != never(keys.dtype)) & (keys >= 0)
        arrival = jnp.where(held, keys.astype(jnp.float32), jnp.nan)
        return arrival, held.astype(jnp.float32), jnp.where(held, keys, 0).astype(jnp.float32)
    if isinstance(queue, Ring | BitArray32):
        if isinstance(queue, Ring):
            slots = queue.slots
            count = queue.count.astype(jnp.float32)
            carrier = count if queue.arrival_sum is None else queue.arrival_sum
        else:
            slots = 32
            count = (jnp.right_shift(queue.bits[..., None], jnp.arange(slots)) & 1).astype(
                jnp.float32
            )
            carrier = count
        first = queue.popped_until[..., None] + 1
        arrival = first + (jnp.arange(slots) - first) % slots
        arrival = jnp.where(count > 0, arrival.astype(jnp.float32), jnp.nan)
        return arrival, count, carrier
    if isinstance(queue, DoNothing):
        empty = jnp.zeros(queue.dropped.shape + (0,), jnp.float32)
        return empty, empty, empty
    raise TypeError(f"no held-events view for {type(queue).__name__}")


def _history(queue: EventQueue, emitted: jax.Array, arrival: jax.Array):
    """One queue over ``(T,)`` inputs; batched with ``vmap`` (queues are independent)."""

    def step(q, xs):
        t, when, due = xs
        q = q.enqueue(due, when=when)
        after_enqueue = _held(q)
        q, hit = q.pop(t)
        return q, (hit, q.pending, q.dropped, after_enqueue, _held(q))

    steps = jnp.arange(emitted.shape[0], dtype=jnp.int32)
    return jax.lax.scan(step, queue, (steps, emitted, arrival))[1]


@jax.jit
@jax.vmap
def _run_plain(queue, emitted, arrival):
    return _history(queue, emitted, arrival)


@jax.jit
@jax.vmap
def _run_tangent(queue, emitted, arrival, tangent):
    return jax.jvp(lambda a: _history(queue, emitted, a), (arrival,), (tangent,))


def _time_major(tree):
    """``(B, T, ...)`` leaves to ``(T, B, ...)`` numpy (float0 tangents of integers dropped)."""
    return jax.tree.map(
        lambda x: None if x.dtype == jax.dtypes.float0 else np.swapaxes(np.asarray(x), 0, 1), tree
    )


def _grouped(arrival: np.ndarray, count: np.ndarray, tangent: np.ndarray) -> dict:
    """``{arrival step: [count, tangent sum]}`` of the places of one queue."""
    groups: dict[float, list[float]] = {}
    for a, c, g in zip(arrival, count, tangent, strict=True):
        if c > 0 and not np.isnan(a):
            entry = groups.setdefault(float(a), [0.0, 0.0])
            entry[0] += float(c)
            entry[1] += float(g)
    return groups


def _difference(before: dict, after: dict) -> list[tuple[float, float, float]]:
    """The events in ``before`` that are not in ``after``: ``(arrival, count, tangent)``."""
    gone = []
    for a, (c, g) in sorted(before.items()):
        c_after, g_after = after.get(a, (0.0, 0.0))
        if c > c_after:
            gone.append((a, c - c_after, g - g_after))
    return gone


def _table(rows: list[tuple[int, int, float, float, float]]) -> EventTable:
    columns = list(zip(*rows, strict=True)) if rows else [()] * 5
    dtypes = (np.int32, np.int32, np.float32, np.int32, np.float32)
    return EventTable(*(np.asarray(c, d) for c, d in zip(columns, dtypes, strict=True)))


def trace_queue(
    kind: str,
    stream: EventStream,
    capacity: int | None = None,
    max_delay_steps: int | None = None,
) -> QueueTrace:
    """Run queue kind ``kind`` (a :func:`adseq_lab.queues.names` entry) over ``stream``.

    ``capacity`` only for kinds that have one; ``max_delay_steps`` defaults to the stream's
    longest delay (a smaller one shows what a kind does with events beyond its reach). Invalid
    combinations raise the library's ``ValueError`` (e.g. ``bit_array32`` with a delay >= 32).
    """
    queue_type = queues.get(kind, capacity)
    entry = queues.info(kind)
    if max_delay_steps is None:
        max_delay_steps = stream.max_delay_steps
    grad = entry.supports_grad
    queue = queue_type.init(max_delay_steps, grad=grad, batch_shape=(stream.batch,))
    emitted = jnp.asarray(stream.emitted.T)
    if grad:
        arrival = jnp.asarray(stream.arrival_step.T, jnp.float32)
        out, out_dot = _run_tangent(queue, emitted, arrival, jnp.asarray(stream.tangent.T))
        out, out_dot = _time_major(out), _time_major(out_dot)
        hit_tangent = np.asarray(out_dot[0], np.float32)
        entered_tangent = np.asarray(out_dot[3][2], np.float32)
        held_tangent = np.asarray(out_dot[4][2], np.float32)
    else:
        out = _time_major(_run_plain(queue, emitted, jnp.asarray(stream.arrival_step.T)))
        hit_tangent = np.full(stream.emitted.shape, np.nan, np.float32)
        entered_tangent = np.full(out[3][0].shape, np.nan, np.float32)
        held_tangent = np.full(out[4][0].shape, np.nan, np.float32)
    hit, pending, dropped = (np.asarray(x) for x in out[:3])
    entered_arrival, entered_count = np.asarray(out[3][0]), np.asarray(out[3][1])
    held_arrival, held_count = np.asarray(out[4][0]), np.asarray(out[4][1])

    entered_rows, popped_rows, lost_rows = [], [], []
    for b in range(stream.batch):
        previous: dict = {}
        for t in range(stream.steps):
            before = {a: list(v) for a, v in previous.items()}
            if stream.emitted[t, b]:
                new_tangent = float(stream.tangent[t, b]) if grad else float("nan")
                a = float(stream.arrival_step[t, b])
                entered_rows.append((t, b, a, 1, new_tangent))
                entry_ = before.setdefault(a, [0.0, 0.0])
                entry_[0] += 1.0
                entry_[1] += new_tangent
            in_queue = _grouped(entered_arrival[t, b], entered_count[t, b], entered_tangent[t, b])
            previous = _grouped(held_arrival[t, b], held_count[t, b], held_tangent[t, b])
            lost_rows += [(t, b, a, c, g) for a, c, g in _difference(before, in_queue)]
            popped_rows += [(t, b, a, c, g) for a, c, g in _difference(in_queue, previous)]

    name = getattr(queue_type, "__name__", kind)
    return QueueTrace(
        kind=kind,
        queue_name=name,
        max_delay_steps=int(max_delay_steps),
        capacity=capacity,
        has_tangents=grad,
        hit=hit.astype(np.float32),
        hit_tangent=hit_tangent,
        pending=pending.astype(np.int32),
        dropped=dropped.astype(np.int32),
        held_arrival=held_arrival.astype(np.float32),
        held_count=held_count.astype(np.int32),
        held_tangent=np.where(held_count > 0, held_tangent, np.nan).astype(np.float32),
        entered=_table(entered_rows),
        popped=_table(popped_rows),
        lost=_table(lost_rows),
    )
