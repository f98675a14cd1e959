"""plotting: the builders show the data they are given, with labelled axes and units."""

from __future__ import annotations

import os
import subprocess
import sys

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from adseq_lab import plotting
from adseq_lab.queue_trace import poisson_stream, trace_queue


@pytest.fixture(scope="module")
def trace():
    stream = poisson_stream(steps=25, batch=2, rate=0.6, delay_steps=3, delay_spread=2, seed=2)
    return trace_queue("sorted_array", stream, capacity=2)


def layer(overlay, label):
    return next(e for e in overlay if e.label == label)


def test_queue_history_shows_the_trace_up_to_the_cursor(trace):
    full = plotting.queue_history(trace, queue=1)
    lost = trace.lost.queue == 1
    dropped = layer(full, "dropped")
    np.testing.assert_array_equal(dropped.dimension_values("step"), trace.lost.step[lost])
    np.testing.assert_array_equal(
        dropped.dimension_values("arrival"), trace.lost.arrival_step[lost]
    )
    held = layer(full, "held")
    assert len(held) == int((trace.held_count[:, 1] > 0).sum())
    np.testing.assert_allclose(
        held.dimension_values("tangent"), trace.held_tangent[:, 1][trace.held_count[:, 1] > 0]
    )
    partial = plotting.queue_history(trace, queue=1, until=10)
    assert layer(partial, "entered").dimension_values("step").max() <= 10
    options = hv.Store.lookup_options("bokeh", partial, "plot").kwargs
    assert options["xlabel"] == "step" and options["ylabel"] == "arrival step"
    assert options["xlim"] == (-0.5, 24.5)  # the whole run's axes while animating
    hv.render(partial, backend="bokeh")


def test_occupancy_curves_follow_pending_and_dropped(trace):
    layout = plotting.queue_occupancy([trace], queue=0, until=9)
    held, dropped = layout
    curve = layer(held, "SortedArray[2]")
    np.testing.assert_array_equal(curve.dimension_values(1), trace.pending[:10, 0])
    np.testing.assert_array_equal(
        layer(dropped, "SortedArray[2]").dimension_values(1), trace.dropped[:10, 0]
    )
    with pytest.raises(ValueError):
        plotting.queue_occupancy([])


def test_raster_switches_to_datashader_above_the_threshold():
    rng = np.random.default_rng(0)
    times, neurons = rng.uniform(0, 100, 500), rng.integers(0, 50, 500)
    small = plotting.raster(times, neurons, n_neurons=50, duration_ms=100.0)
    assert isinstance(small, hv.Points) and len(small) == 500
    assert small.get_dimension("time").pprint_label == "time (ms)"
    shaded = plotting.raster(times, neurons, 50, 100.0, datashade_above=100)
    assert isinstance(shaded, hv.DynamicMap)
    hv.render(small, backend="bokeh")


def test_population_rate_is_spikes_per_neuron_per_second():
    times = np.array([0.5, 0.7, 1.2, 2.9])
    curve = layer(plotting.population_rate(times, n_neurons=2, duration_ms=3.0), "rate")
    # bins of 1 ms: 2, 1, 1 spikes from 2 neurons -> 1000, 500, 500 Hz
    np.testing.assert_allclose(curve.dimension_values(1), [1000.0, 500.0, 500.0])
    with pytest.raises(ValueError):
        plotting.population_rate(times, n_neurons=0, duration_ms=3.0)


def test_traces_and_training_curves_keep_their_columns():
    t = np.arange(5) * 0.1
    v = np.arange(15.0).reshape(5, 3)
    traces = plotting.voltage_traces(t, v, neurons=[4, 7, 9])  # recorded columns, labelled
    np.testing.assert_array_equal(layer(traces, "neuron 9").dimension_values(1), v[:, 2])
    assert len(plotting.voltage_traces(t, v)) == 4  # neurons 0..2 and the empty base layer
    delays = plotting.delay_trajectories(
        np.arange(4), np.array([[1, 2], [1.5, 2.5], [2, 3], [2, 3]])
    )
    assert layer(delays, "delay 1").dimension_values(1).tolist() == [2, 2.5, 3, 3]
    assert layer(delays, "delay 0").kdims[0].name == "training step"
    loss = plotting.loss_curve(np.arange(3), {"train": [3, 2, 1], "test": [4, 3, 2]})
    assert layer(loss, "test").dimension_values(1).tolist() == [4, 3, 2]
    hv.render(delays, backend="bokeh")


def test_benchmark_frame_and_curves():
    rows = [
        {"kind": "Ring", "n": 100, "implementation": "adseq_lab", "median_us": 3.0},
        {"kind": "Ring", "n": 10, "implementation": "adseq_lab", "median_us": 1.0},
        {"kind": "Ring", "n": 10, "implementation": "adseq", "error": "boom"},
    ]
    frame = plotting.benchmark_frame({"results": rows})
    assert frame["n"].tolist() == [10, 100]
    plot = plotting.benchmark_curves(frame)
    assert isinstance(plot, hv.Overlay)  # no adseq figures: one panel
    assert layer(plot, "Ring").dimension_values(0).tolist() == [10, 100]
    assert plotting.benchmark_frame([]).empty
    with pytest.raises(ValueError, match="need kind"):
        plotting.benchmark_frame([{"kind": "Ring"}])
    with pytest.raises(ValueError, match="objects"):
        plotting.benchmark_frame([3])
    hv.render(plotting.benchmark_curves(pd.DataFrame(frame)), backend="bokeh")


def test_sweep_curves_average_seeds_per_kind_and_size():
    frame = pd.DataFrame(
        {
            "queue": ["fifo_ring"] * 4 + ["ring"] * 2,
            "capacity": [4, 4, 4, 4, None, None],
            "n_neurons": [20, 20, 40, 40, 20, 40],
            "seed": [0, 1, 0, 1, 0, 0],
            "us_per_step": [1.0, 3.0, 5.0, 7.0, 2.0, 4.0],
            "dropped": [0, 2, 4, 6, 0, 0],
            "spikes": [10, 10, 20, 20, 10, 20],
            "peak_bytes": [100, 100, 200, 200, 50, 60],
        }
    )
    layout = plotting.sweep_curves(frame)
    assert len(layout) == len(plotting.SWEEP_PLOTTED)
    time_panel = layout[0]
    curves = {c.label: c for c in time_panel if isinstance(c, hv.Curve) and c.label}
    assert set(curves) == {"fifo_ring[4]", "ring"}
    np.testing.assert_array_equal(curves["fifo_ring[4]"].dimension_values(1), [2.0, 6.0])
    np.testing.assert_array_equal(curves["ring"].dimension_values(0), [20, 40])
    assert len(plotting.sweep_curves(pd.DataFrame())) == len(plotting.SWEEP_PLOTTED)


def test_importing_the_library_loads_neither_panel_nor_holoviews():
    code = (
        "import sys, adseq_lab, adseq_lab.plotting, adseq_lab.queue_trace, adseq_lab.serve;"
        "bad = [m for m in ('panel', 'holoviews', 'bokeh', 'ipywidgets') if m in sys.modules];"
        "assert not bad, bad"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
