"""QueueExplorer without a browser: controls in, the library's traces out, refusals shown."""

from __future__ import annotations

import asyncio

import holoviews as hv
import numpy as np
import panel as pn
import pytest

from adseq_lab.dashboards import queue_explorer as module
from adseq_lab.dashboards.queue_explorer import QueueExplorer
from adseq_lab.queue_trace import poisson_stream, trace_queue

SMALL = dict(steps=30, delay_steps=4, delay_spread=2, rate=0.5, capacity=2)


def library_trace(explorer: QueueExplorer, kind: str):
    stream = poisson_stream(
        explorer.steps,
        explorer.batch,
        explorer.rate,
        explorer.delay_steps,
        explorer.delay_spread,
        explorer.seed,
    )
    capacity = explorer.capacity if kind not in ("ring", "bit_array32") else None
    return trace_queue(kind, stream, capacity=capacity)


def plotted_points(explorer: QueueExplorer, index: int, label: str) -> np.ndarray:
    """The (step, arrival step) pairs of one layer of the index-th history plot, as shown."""
    overlay = explorer._plots.objects[index].object[()]
    layer = next(e for e in overlay if e.label == label)
    return np.column_stack([layer.dimension_values("step"), layer.dimension_values("arrival")])


@pytest.fixture
def explorer():
    return QueueExplorer(kinds=["fifo_ring", "sorted_array"], **SMALL)


def test_run_plots_the_library_result_and_changes_with_the_controls(explorer):
    assert explorer.run_now()
    for trace, kind in zip(explorer.traces, ["fifo_ring", "sorted_array"], strict=True):
        reference = library_trace(explorer, kind)
        np.testing.assert_array_equal(trace.hit, reference.hit)
        np.testing.assert_array_equal(trace.dropped, reference.dropped)
        np.testing.assert_array_equal(trace.held_arrival, reference.held_arrival)
    dropped_before = plotted_points(explorer, 0, "dropped")
    lost = explorer.traces[0].lost
    np.testing.assert_array_equal(dropped_before, np.column_stack([lost.step, lost.arrival_step]))
    assert "Plotted" in explorer._status.object

    explorer.param.update(kinds=["lossy_ring"], seed=5)
    assert explorer.run_now()
    reference = library_trace(explorer, "lossy_ring")
    assert explorer.traces[0].queue_name == "LossyRing[2]"
    held = plotted_points(explorer, 0, "held")
    kept = reference.held_count[:, 0] > 0
    steps = np.broadcast_to(np.arange(reference.steps)[:, None], kept.shape)[kept]
    np.testing.assert_array_equal(
        held, np.column_stack([steps, reference.held_arrival[:, 0][kept]])
    )
    assert len(explorer._plots.objects) == 1
    table = explorer.summary()
    assert table["dropped"].tolist() == [int(reference.dropped[-1, 0])]
    assert table["popped"].tolist() == [int(reference.popped.count.sum())]


def test_cursor_limits_the_plot_and_reports_the_step(explorer):
    explorer.run_now()
    explorer.cursor = 5
    shown = plotted_points(explorer, 0, "entered")
    assert shown[:, 0].max(initial=0) <= 5
    trace = explorer.traces[0]
    assert len(shown) == np.sum(trace.entered.step <= 5)
    assert "Step 5" in explorer._detail.object
    explorer.step_forward()
    assert explorer.cursor == 6 and "Step 6" in explorer._detail.object
    explorer.step_back()
    explorer.step_back()
    assert explorer.cursor == 4


def test_animation_advances_and_stops(explorer):
    explorer.run_now()
    explorer.cursor = explorer.steps - 1
    explorer.play()
    assert explorer.playing and explorer.cursor == 0  # replays from the start
    explorer._tick()
    explorer._tick()
    assert explorer.cursor == 2
    explorer.stop()
    assert not explorer.playing and explorer._animation is None
    assert explorer._player_state.object == "■ stopped at step 2"
    explorer._tick()  # a frame scheduled before Stop does not move the cursor
    assert explorer.cursor == 2
    explorer.cursor = explorer.steps - 1
    explorer.playing = True
    explorer._tick()  # at the last step the animation ends itself
    assert not explorer.playing


@pytest.mark.parametrize(
    "change,needle",
    [
        (dict(capacity=0), "capacity must be a positive integer"),
        (dict(kinds=["bit_array32"], delay_steps=40, delay_spread=0), "max_delay_steps"),
        (dict(kinds=[]), "choose at least one"),
        (dict(delay_steps=2, delay_spread=5), "delay_spread"),
    ],
)
def test_invalid_input_is_refused_with_a_visible_message(explorer, change, needle):
    explorer.run_now()
    shown = explorer.traces
    explorer.param.update(**change)
    assert not explorer.run_now()
    assert explorer.messages.pane.visible and needle in explorer.messages.text
    assert "Traceback" not in explorer.messages.text
    assert explorer.traces is shown  # the last good result stays on the page
    explorer.param.update(capacity=2, kinds=["fifo_ring"], delay_steps=4, delay_spread=2)
    assert explorer.run_now() and not explorer.messages.pane.visible


def test_unexpected_failure_shows_one_line_not_a_trace(explorer, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("internal detail that must not reach the page")

    monkeypatch.setattr(module, "trace_queue", broken)
    assert not explorer.run_now()
    assert explorer.messages.text.startswith("**Failed:** RuntimeError")
    assert "internal detail" not in explorer.messages.text


def test_async_run_uses_a_worker_thread_and_gives_the_same_result(explorer):
    asyncio.run(explorer.run_async())
    assert not explorer.busy
    np.testing.assert_array_equal(explorer.traces[0].hit, library_trace(explorer, "fifo_ring").hit)


def test_batch_bounds_the_queue_shown(explorer):
    explorer.batch = 3
    assert explorer.param.queue.bounds == (0, 2)
    explorer.run_now()
    explorer.queue = 2
    reference = library_trace(explorer, "fifo_ring")
    assert explorer.summary()["dropped"].iloc[0] == reference.dropped[-1, 2]
    explorer.batch = 1
    assert explorer.queue == 0


def test_each_instance_has_its_own_state():
    first, second = QueueExplorer(**SMALL), QueueExplorer(**SMALL)
    first.kinds = ["ring"]
    first.run_now()
    assert second.traces == [] and second.kinds != first.kinds


def test_renders_to_bokeh_models(explorer):
    explorer.run_now()
    root = pn.panel(explorer).get_root()
    assert root is not None
    hv.render(explorer._plots.objects[0].object[()], backend="bokeh")
