"""The ipywidgets queue explorer drives the same library calls as the Panel dashboard."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from adseq_lab.queue_trace import poisson_stream, trace_queue  # noqa: E402
from adseq_lab.widgets_ipy import queue_explorer  # noqa: E402


def controls(explorer):
    return {c.description: c for c in explorer.children if getattr(c, "description", "")}


def test_interact_result_is_the_library_result_and_follows_the_controls():
    explorer = queue_explorer(kinds=("fifo_ring",), steps=20, delay_steps=3, delay_spread=1)
    stream = poisson_stream(20, 1, 0.35, 3, 1, 0)
    np.testing.assert_array_equal(
        explorer.result[0].hit, trace_queue("fifo_ring", stream, capacity=3).hit
    )
    widgets = controls(explorer)
    widgets["kinds"].value = ("ring", "binary_heap")
    widgets["seed"].value = 4
    stream = poisson_stream(20, 1, 0.35, 3, 1, 4)
    assert [t.queue_name for t in explorer.result] == ["Ring", "BinaryHeap[3]"]
    np.testing.assert_array_equal(explorer.result[0].hit, trace_queue("ring", stream).hit)
    assert widgets["step shown"].max == 19


def test_invalid_input_is_refused_without_raising():
    explorer = queue_explorer(kinds=("bit_array32",), steps=10, delay_steps=5, delay_spread=0)
    assert explorer.result is not None
    controls(explorer)["delay (steps)"].value = 40
    assert explorer.result is None
