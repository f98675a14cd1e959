"""queue_trace: the recorded history agrees with the library's queues and with simple references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adseq_lab import queues
from adseq_lab.queue_trace import EventStream, poisson_stream, trace_queue


def stream_of(events: list[tuple[int, int, float]], steps: int) -> EventStream:
    """A one-queue stream from ``(emit step, delay, tangent)`` triples."""
    emitted = np.zeros((steps, 1), bool)
    arrival = np.arange(steps, dtype=np.int32)[:, None].copy()
    tangent = np.zeros((steps, 1), np.float32)
    for t, delay, g in events:
        emitted[t, 0], arrival[t, 0], tangent[t, 0] = True, t + delay, g
    return EventStream(emitted, arrival, tangent)


def per_step(table, shape, column="count"):
    out = np.zeros(shape, np.float64)
    np.add.at(out, (table.step, table.queue), getattr(table, column))
    return out


def reference_run(kind, capacity, stream):
    """The library's queue driven op by op in Python (no scan, no vmap): hits and drops."""
    hits, dropped = np.zeros(stream.emitted.shape), np.zeros(stream.emitted.shape)
    for b in range(stream.batch):
        q = queues.get(kind, capacity).init(stream.max_delay_steps)
        for t in range(stream.steps):
            q = q.enqueue(int(stream.arrival_step[t, b]), when=bool(stream.emitted[t, b]))
            q, hit = q.pop(t)
            hits[t, b], dropped[t, b] = float(hit), int(q.dropped)
    return hits, dropped


KINDS = [(name, 2 if queues.info(name).has_capacity else None) for name in queues.names()]


@pytest.fixture(scope="module")
def stream():
    return poisson_stream(steps=40, batch=2, rate=0.45, delay_steps=5, delay_spread=3, seed=3)


@pytest.mark.parametrize("kind,capacity", KINDS)
def test_trace_matches_library_and_conserves_events(kind, capacity, stream):
    history = trace_queue(kind, stream, capacity=capacity)
    hits, dropped = reference_run(kind, capacity, stream)
    np.testing.assert_array_equal(history.hit, hits)
    np.testing.assert_array_equal(history.dropped, dropped)
    # every entered event is popped, dropped or still held, once
    assert len(history.entered) == int(stream.emitted.sum())
    total = history.popped.count.sum() + history.lost.count.sum() + history.pending[-1].sum()
    assert total == stream.emitted.sum()
    np.testing.assert_array_equal(per_step(history.popped, hits.shape), hits)
    np.testing.assert_array_equal(np.cumsum(per_step(history.lost, hits.shape), 0), dropped)
    np.testing.assert_array_equal(history.held_count.sum(-1), history.pending)
    # popped events were due: arrival step <= the step they left at
    assert np.all(history.popped.arrival_step <= history.popped.step)
    if history.has_tangents:
        np.testing.assert_allclose(
            per_step(history.popped, hits.shape, "tangent"), history.hit_tangent, atol=1e-5
        )
    else:
        assert np.all(np.isnan(history.hit_tangent))


def test_lossless_queue_delivers_each_event_at_its_step_with_its_tangent():
    events = [(0, 4, 0.5), (1, 2, -1.0), (2, 1, 2.0), (3, 6, 0.25), (6, 0, 3.0)]
    history = trace_queue("sorted_array", stream_of(events, 12), capacity=8)
    # events due at the same step leave together: one row, their count and summed tangent
    expected = [(3, 3, 2, 1.0), (4, 4, 1, 0.5), (6, 6, 1, 3.0), (9, 9, 1, 0.25)]
    popped = history.popped
    got = list(zip(popped.step, popped.arrival_step, popped.count, popped.tangent, strict=True))
    np.testing.assert_allclose(np.array(got, float), np.array(expected, float))
    assert len(history.lost) == 0 and history.pending[-1, 0] == 0


def test_full_fifo_ring_drops_the_new_event():
    # capacity 1: the event emitted at step 1 finds the queue full and is lost at step 1
    history = trace_queue("fifo_ring", stream_of([(0, 5, 1.0), (1, 5, 2.0), (6, 1, 4.0)], 10), 1)
    assert list(history.lost.step) == [1] and list(history.lost.arrival_step) == [6.0]
    assert list(history.lost.tangent) == [2.0]
    assert list(history.popped.step) == [5, 7] and list(history.popped.tangent) == [1.0, 4.0]
    # what the queue held after each step
    np.testing.assert_array_equal(history.pending[:, 0], [1, 1, 1, 1, 1, 0, 1, 0, 0, 0])
    assert history.held_arrival[2, 0, 0] == 5.0 and history.held_tangent[2, 0, 0] == 1.0


def test_ring_shorter_than_the_delays_loses_the_far_events():
    events = [(0, 2, 1.0), (1, 6, 1.0), (2, 3, 1.0)]
    history = trace_queue("ring", stream_of(events, 12), max_delay_steps=3)
    assert list(history.lost.arrival_step) == [7.0]
    assert list(history.popped.arrival_step) == [2.0, 5.0]


def test_ring_sums_the_tangents_of_simultaneous_events():
    history = trace_queue("ring", stream_of([(0, 3, 1.5), (1, 2, 0.25)], 6))
    assert history.held_count[1, 0].max() == 2
    np.testing.assert_allclose(np.nansum(history.held_tangent[1, 0]), 1.75)
    assert list(history.popped.step) == [3] and list(history.popped.count) == [2]
    np.testing.assert_allclose(history.hit_tangent[3, 0], 1.75)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rate=st.floats(0.0, 1.0),
    kind=st.sampled_from(["fifo_ring", "lossy_ring", "binary_heap"]),
)
def test_conservation_on_random_streams(seed, rate, kind):
    stream = poisson_stream(steps=30, batch=2, rate=rate, delay_steps=4, delay_spread=4, seed=seed)
    history = trace_queue(kind, stream, capacity=3, max_delay_steps=8)
    total = history.popped.count.sum() + history.lost.count.sum() + history.pending[-1].sum()
    assert total == stream.emitted.sum()
    assert np.all(history.pending <= 3)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: trace_queue("bit_array32", s), "max_delay_steps"),
        (lambda s: trace_queue("fifo_ring", s, capacity=0), "capacity"),
        (lambda s: trace_queue("ring", s, capacity=4), "no capacity"),
        (lambda s: trace_queue("no_such_kind", s), "valid names"),
    ],
)
def test_invalid_combinations_raise_value_error(call, match):
    far = poisson_stream(steps=10, rate=0.5, delay_steps=40, seed=0)
    with pytest.raises(ValueError, match=match):
        call(far)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"steps": 0}, "steps"),
        ({"steps": 10, "batch": 0}, "batch"),
        ({"steps": 10, "rate": 1.5}, "rate"),
        ({"steps": 10, "delay_steps": -1}, "delay_steps"),
        ({"steps": 10, "delay_steps": 2, "delay_spread": 3}, "delay_spread"),
        ({"steps": 10, "seed": True}, "seed"),
    ],
)
def test_poisson_stream_refuses_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        poisson_stream(**kwargs)


def test_poisson_stream_is_seeded_and_within_the_delay_range():
    a = poisson_stream(steps=200, batch=3, rate=0.3, delay_steps=6, delay_spread=2, seed=9)
    b = poisson_stream(steps=200, batch=3, rate=0.3, delay_steps=6, delay_spread=2, seed=9)
    np.testing.assert_array_equal(a.emitted, b.emitted)
    delays = (a.arrival_step - np.arange(200)[:, None])[a.emitted]
    assert delays.min() >= 4 and delays.max() <= 8 and a.max_delay_steps == delays.max()
    assert 0.2 < a.emitted.mean() < 0.4


def test_docstring_example_runs_as_written():
    import doctest

    from adseq_lab import queue_trace

    result = doctest.testmod(queue_trace)
    assert result.attempted > 0 and result.failed == 0
