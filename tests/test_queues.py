"""Queue kinds against a plain-Python heapq model, conservation for lossy kinds, tangents."""

from __future__ import annotations

import heapq
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adseq_lab import queues, strict
from adseq_lab.implementations import (
    BGPQ1,
    BinaryHeap,
    BitArray32,
    FIFORing,
    LossyRing,
    Ring,
    SortedArray,
)

STEPS = 40
SLOTS = 3  # events offered per step (masked)
MAX_DELAY = 12


def reference(arrivals: np.ndarray, offered: np.ndarray) -> np.ndarray:
    """heapq model: per step, enqueue the offered events, then deliver all due ones."""
    heap: list[int] = []
    hits = np.zeros(len(arrivals), np.int64)
    for step in range(len(arrivals)):
        for arrival, on in zip(arrivals[step], offered[step], strict=True):
            if on:
                heapq.heappush(heap, int(arrival))
        while heap and heap[0] <= step:
            heapq.heappop(heap)
            hits[step] += 1
    return hits


CAPACITY = 5


def fit_to_capacity(arrivals: np.ndarray, offered: np.ndarray, capacity: int = CAPACITY):
    """The stream without the events that would make more than ``capacity`` pending at once,
    so a random stream fills the queue to capacity without overflowing it."""
    offered = offered.copy()
    pending: list[int] = []
    for step in range(len(arrivals)):
        for slot in range(arrivals.shape[1]):
            if offered[step, slot]:
                if len(pending) < capacity:
                    pending.append(int(arrivals[step, slot]))
                else:
                    offered[step, slot] = False
        pending = [a for a in pending if a > step]
    return arrivals, offered


@cache
def runner(queue_type, grad: bool):
    """Compiled ``(arrivals, offered) -> (hits, dropped, pending)`` for one queue type."""

    def run(arrivals, offered):
        queue = queue_type.init(MAX_DELAY, grad=grad)

        def step(queue, inputs):
            t, arrival_row, offered_row = inputs
            for slot in range(SLOTS):
                queue = queue.enqueue(arrival_row[slot], when=offered_row[slot])
            queue, hit = queue.pop(t)
            return queue, hit

        steps = jnp.arange(arrivals.shape[0])
        queue, hits = jax.lax.scan(step, queue, (steps, arrivals, offered))
        return hits, queue.dropped, queue.pending

    return jax.jit(run)


def simulate(queue_type, arrivals, offered, grad=False):
    arrivals = np.asarray(arrivals)
    cast = arrivals.astype(np.float32 if grad else np.int32)
    hits, dropped, pending = runner(queue_type, grad)(cast, np.asarray(offered))
    return np.asarray(hits).astype(np.int64), int(dropped), int(pending)


@st.composite
def streams(draw, per_step=SLOTS, one_delay=False, distinct_arrivals=False, max_delay=MAX_DELAY):
    """A random event stream: ``(arrivals[T, SLOTS], offered[T, SLOTS])``."""
    delay = draw(st.integers(0, max_delay))
    arrivals = np.zeros((STEPS, SLOTS), np.int64)
    offered = np.zeros((STEPS, SLOTS), bool)
    used: set[int] = set()
    for step in range(STEPS):
        count = draw(st.integers(0, per_step))
        for slot in range(count):
            d = delay if one_delay else draw(st.integers(0, max_delay))
            if distinct_arrivals and step + d in used:
                continue
            used.add(step + d)
            arrivals[step, slot] = step + d
            offered[step, slot] = True
    return arrivals, offered


FAST = settings(max_examples=25, deadline=None)


@FAST
@given(streams())
def test_ring_matches_heapq(stream):
    hits, dropped, pending = simulate(Ring, *stream)
    np.testing.assert_array_equal(hits, reference(*stream))
    assert dropped == 0


@FAST
@given(streams(per_step=1, one_delay=True))
def test_fifo_ring_matches_heapq_within_contract(stream):
    stream = fit_to_capacity(*stream)
    hits, dropped, _ = simulate(FIFORing.sized(CAPACITY), *stream)
    np.testing.assert_array_equal(hits, reference(*stream))
    assert dropped == 0


@pytest.mark.parametrize("name", ["sorted_array", "binary_heap", "bgpq1"])
@FAST
@given(stream=streams())
def test_priority_queues_match_heapq(name, stream):
    stream = fit_to_capacity(*stream)
    kind = queues.get(name, CAPACITY)
    for grad in (False, True):
        hits, dropped, _ = simulate(kind, *stream, grad=grad)
        np.testing.assert_array_equal(hits, reference(*stream))
        assert dropped == 0


@FAST
@given(streams(max_delay=31, distinct_arrivals=True))
def test_bit_array32_matches_heapq(stream):
    hits, dropped, _ = simulate(BitArray32, *stream)
    np.testing.assert_array_equal(hits, reference(*stream))
    assert dropped == 0


LOSSY = [
    ("do_nothing", None),
    ("single_spike", None),
    ("single_spike_keep", None),
    ("lossy_ring", 3),
    ("fifo_ring", 2),
    ("sorted_array", 2),
    ("binary_heap", 3),
    ("bgpq1", 2),
    ("bit_array32", None),
]


@pytest.mark.parametrize("name,capacity", LOSSY)
@FAST
@given(stream=streams())
def test_lossy_kinds_conserve_events(name, capacity, stream):
    """delivered + dropped + pending == enqueued, and no delivery runs ahead of the arrivals."""
    arrivals, offered = stream
    hits, dropped, pending = simulate(queues.get(name, capacity), arrivals, offered)
    assert hits.sum() + dropped + pending == offered.sum()
    arrived_by = np.array([(arrivals[offered] <= t).sum() for t in range(STEPS)])
    assert np.all(np.cumsum(hits) <= arrived_by)


def test_sorted_array_drops_the_latest_when_full():
    q = SortedArray.sized(2).init(10)
    for arrival in (5, 3, 9, 4):
        q = q.enqueue(arrival)
    assert int(q.dropped) == 2
    np.testing.assert_array_equal(q.arrival_step, [3, 4])


def test_lossy_ring_counts_collisions():
    q = queues.get("lossy_ring", 4).init(10).enqueue(3).enqueue(7)
    assert int(q.dropped) == 1 and int(q.pending) == 1


def test_ring_drops_out_of_reach_instead_of_wrapping():
    q = Ring.init(5)
    q, _ = q.pop(0)
    q = q.enqueue(6)  # 6 steps ahead of the last pop fits 6 slots
    q = q.enqueue(7)  # one more would wrap onto slot 1 and arrive at step 1
    assert int(q.dropped) == 1
    hits = []
    for t in range(1, 9):
        q, hit = q.pop(t)
        hits.append(int(hit))
    assert hits == [0, 0, 0, 0, 0, 1, 0, 0]


def test_simultaneous_arrivals_come_out_together():
    for name in ("ring", "sorted_array", "binary_heap", "bgpq1", "fifo_ring"):
        kind = queues.get(name, 4) if queues.info(name).has_capacity else queues.get(name)
        q = kind.init(10).enqueue(4).enqueue(4).enqueue(4)
        q, hit = q.pop(4)
        assert int(hit) == 3 and int(q.pending) == 0, name


GRAD_KINDS = [n for n in queues.names() if queues.info(n).supports_grad and n != "do_nothing"]


def _kind(name, capacity=4):
    return queues.get(name, capacity) if queues.info(name).has_capacity else queues.get(name)


def _with_tangent(value, offset):
    """``value`` (a whole step) carrying the tangent of ``offset``."""
    return value + (offset - jax.lax.stop_gradient(offset))


@pytest.mark.parametrize("name", GRAD_KINDS)
def test_pop_returns_the_popped_events_tangents(name):
    """Arrival tangents come out of pop unchanged, forward and reverse, one or several at once."""
    arrivals = jnp.array([3.0, 5.0, 5.0])
    expected_hit = {
        "single_spike": [0, 0, 1],  # each newer event replaces the pending one
        "single_spike_keep": [1, 0, 0],  # the first is kept, later ones dropped
        "lossy_ring": [1, 0, 1],  # the two events of step 5 share a slot: the last one stays
    }.get(name)
    expected_hit = jnp.array(expected_hit or [1, 1, 1], jnp.float32)
    pop_steps = jnp.array([3.0, 5.0, 5.0])  # the step each event comes out

    def hits(offsets):
        q = _kind(name).init(8, grad=True)
        for arrival, offset in zip(arrivals, offsets, strict=True):
            q = q.enqueue(_with_tangent(arrival, offset))
        out = []
        for t in range(8):
            q, hit = q.pop(t)
            out.append(hit)
        return jnp.stack(out)

    offsets = jnp.zeros(3)
    forward = jax.jacfwd(hits)(offsets)
    reverse = jax.jacrev(hits)(offsets)
    expected = np.zeros((8, 3), np.float32)
    for event, (step, kept) in enumerate(zip(pop_steps, expected_hit, strict=True)):
        expected[int(step), event] = kept
    np.testing.assert_array_equal(forward, expected)
    np.testing.assert_array_equal(reverse, expected)


@pytest.mark.parametrize("name", ["fifo_ring", "ring", "sorted_array", "binary_heap"])
def test_forward_equals_reverse_on_a_long_batched_scan(name):
    """jvp == vjp for a loss of hits over 200 steps of 2000 queues (delays with tangents)."""
    n, steps = 2000, 200
    key = jax.random.key(0)
    delays = jax.random.randint(key, (n,), 1, 20).astype(jnp.float32)
    events = jax.random.uniform(jax.random.key(1), (steps, n)) < 0.05
    weights = jax.random.normal(jax.random.key(2), (steps,))

    def loss(delay_offset):
        queue = _kind(name, 8).init(24, grad=True, batch_shape=(n,))

        def step(queue, inputs):
            t, fired, w = inputs
            arrival = _with_tangent(t + delays, delay_offset)
            queue = queue.enqueue(arrival, when=fired)
            queue, hit = queue.pop(t)
            return queue, w * jnp.sum(hit * jnp.arange(n) / n)

        _, terms = jax.lax.scan(step, queue, (jnp.arange(steps), events, weights))
        return jnp.sum(terms)

    offset = jnp.zeros(n)
    direction = jax.random.normal(jax.random.key(3), (n,))
    _, forward = jax.jvp(loss, (offset,), (direction,))
    reverse = jnp.dot(jax.grad(loss)(offset), direction)
    assert jnp.isfinite(forward) and abs(float(forward)) > 0
    np.testing.assert_allclose(forward, reverse, rtol=1e-4, atol=1e-4)


def test_queues_vmap_like_the_seed():
    kind = FIFORing.sized(3)
    batched = jax.vmap(lambda _: kind.init(10, grad=True))(jnp.zeros(5))
    direct = kind.init(10, grad=True, batch_shape=(5,))
    assert jax.tree.map(jnp.shape, batched) == jax.tree.map(jnp.shape, direct)
    popped, hit = jax.vmap(lambda q: q.enqueue(2.0).pop(2))(batched)
    np.testing.assert_array_equal(hit, np.ones(5))


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: FIFORing.sized(0), "capacity"),
        (lambda: FIFORing.sized(-3), "capacity"),
        (lambda: SortedArray.sized(2.5), "capacity"),
        (lambda: SortedArray.sized(True), "capacity"),
        (lambda: Ring.init(-1), "max_delay_steps"),
        (lambda: FIFORing.init(-2), "max_delay_steps"),
        (lambda: Ring.init(3.5), "max_delay_steps"),
        (lambda: BitArray32.init(32), "max_delay_steps"),
        (lambda: BitArray32.init(40), "max_delay_steps"),
        (lambda: BitArray32.init(10, grad=True), "grad"),
        (lambda: Ring.sized(4), "capacity"),
        (lambda: queues.get("no_such_queue"), "fifo_ring"),
        (lambda: queues.get("ring", capacity=3), "capacity"),
    ],
)
def test_bad_input_is_refused_with_a_named_value_error(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_registry_names_every_kind():
    assert queues.names() == [
        "do_nothing",
        "single_spike",
        "single_spike_keep",
        "ring",
        "fifo_ring",
        "lossy_ring",
        "sorted_array",
        "binary_heap",
        "bgpq1",
        "bit_array32",
    ]
    assert queues.get("fifo_ring", capacity=4).__name__ == "FIFORing[4]"
    assert queues.get("ring") is Ring


def test_strict_mode_turns_overflow_into_an_error():
    def run(t):
        q = FIFORing.sized(1).init(8).enqueue(t).enqueue(t + 1)
        strict.check_dropped(q.dropped)
        return q.pending

    with pytest.raises(strict.DroppedEventsError, match="1 event"):
        strict.strict(jax.jit)(run)(3)
    q = FIFORing.sized(2).init(8).enqueue(1).enqueue(2)
    assert int(strict.strict(jax.jit)(lambda q: q.pending)(q)) == 2
    strict.raise_if_dropped(q)
    with pytest.raises(strict.DroppedEventsError):
        strict.raise_if_dropped(q.enqueue(3))


def test_kinds_with_the_same_fields_have_distinct_tree_structures():
    """A jit cache keyed by tree structure must never hand one kind another kind's program
    (FIFORing and LossyRing share their fields; so do BinaryHeap and BGPQ1)."""
    pairs = [(FIFORing.sized(3), LossyRing.sized(3)), (BinaryHeap.sized(7), BGPQ1.sized(7))]
    for first, second in pairs:
        a, b = first.init(5, grad=True), second.init(5, grad=True)
        assert jax.tree.structure(a) != jax.tree.structure(b)
        assert jax.tree.structure(a) == jax.tree.structure(first.init(5, grad=True))

    @jax.jit
    def dropped_after_two(queue):
        return queue.enqueue(4.0).enqueue(7.0).dropped

    # LossyRing[3]: 4 and 7 share slot 1 (the second overwrites the first); FIFORing[3] holds both
    assert int(dropped_after_two(FIFORing.sized(3).init(8, grad=True))) == 0
    assert int(dropped_after_two(LossyRing.sized(3).init(8, grad=True))) == 1
