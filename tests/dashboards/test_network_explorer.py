"""NetworkExplorer without a browser: its chunked run is the library's single simulate() call."""

from __future__ import annotations

import asyncio

import holoviews as hv
import numpy as np
import pytest

from adseq_lab import network
from adseq_lab.dashboards.network_explorer import NetworkExplorer, parse_neurons

SMALL = dict(n_neurons=20, duration_ms=12.0, dt_ms=0.2, connection_prob=0.3, max_delay_ms=5.0)


def reference(explorer: NetworkExplorer):
    net, params, drive, traced = explorer.build()
    return network.simulate(net, params, drive), traced


def test_run_shows_the_library_simulation_and_changes_with_the_controls():
    explorer = NetworkExplorer(**SMALL)
    assert explorer.run_now()
    expected, traced = reference(explorer)
    run = explorer.run
    steps, neurons = np.nonzero(np.asarray(expected.spikes))
    np.testing.assert_array_equal(run.spike_neuron, neurons)
    np.testing.assert_array_equal(run.spike_ms, np.asarray(expected.spike_ms)[steps, neurons])
    np.testing.assert_allclose(run.voltage, np.asarray(expected.voltage), atol=1e-6)
    np.testing.assert_array_equal(run.pending, np.asarray(expected.pending))
    np.testing.assert_array_equal(run.dropped, np.asarray(expected.dropped))
    assert run.steps == 60 and run.traced == traced == (0, 1, 2)
    raster = explorer._raster.object
    np.testing.assert_array_equal(raster.dimension_values("neuron"), neurons)
    assert f"{len(neurons):,} spikes" in explorer._status.object
    assert run.us_per_step > 0 and run.peak_bytes > 0

    explorer.param.update(queue="sorted_array", capacity=1, weight_scale=3.0, traced="4, 7")
    assert explorer.run_now()
    expected, _ = reference(explorer)
    assert explorer.run.queue_name == "SortedArray[1]"
    np.testing.assert_array_equal(explorer.run.dropped, np.asarray(expected.dropped))
    traces = explorer._traces.object
    assert [e.label for e in traces if e.label] == ["neuron 4", "neuron 7"]
    hv.render(explorer._queues.object, backend="bokeh")


def test_per_neuron_arrangement_matches_a_lossless_queue():
    explorer = NetworkExplorer(**SMALL, queue="sorted_array", capacity=64)
    explorer.run_now()
    lossless = explorer.run
    explorer.arrangement = "per_neuron"
    explorer.history = 32
    explorer.run_now()
    np.testing.assert_array_equal(explorer.run.spike_neuron, lossless.spike_neuron)
    np.testing.assert_array_equal(explorer.run.spike_ms, lossless.spike_ms)
    assert explorer.run.queue_name == "per_neuron, history 32"


@pytest.mark.parametrize(
    "change,needle",
    [
        (dict(queue="bit_array32", max_delay_ms=8.0), "max_delay_steps"),  # 40 steps of 0.2 ms
        (dict(capacity=0), "capacity must be a positive integer"),
        (dict(delay_ms=9.0, delay_spread_ms=0.0), "max_delay_ms"),  # beyond the 5 ms maximum
        (dict(traced="0, __import__('os')"), "traced neurons"),
        (dict(traced="25"), "[0, 19]"),
    ],
)
def test_invalid_input_is_refused_with_a_visible_message(change, needle):
    explorer = NetworkExplorer(**SMALL)
    explorer.param.update(**change)
    assert not explorer.run_now()
    assert explorer.messages.pane.visible and needle in explorer.messages.text
    assert explorer.run is None


def test_parse_neurons_takes_integers_only():
    assert parse_neurons(" 3,1 ; 3 2 ", 5) == (3, 1, 2)
    for text in ("", "1.5", "-1", "1e3", "print(1)", ",".join("0" * 9)):
        with pytest.raises(ValueError):
            parse_neurons(text, 5)


def test_stop_ends_the_run_between_chunks(monkeypatch):
    explorer = NetworkExplorer(**SMALL)
    original = explorer._chunk

    def chunk_then_stop(*args):
        explorer.stop()  # the user presses Stop during the first chunk
        return original(*args)

    monkeypatch.setattr(explorer, "_chunk", chunk_then_stop)
    asyncio.run(explorer.run_async())
    assert explorer.done == 1 and explorer.run.steps == 6  # one chunk of 6 steps, then stopped
    assert "Stopped after 1 of 10 chunks" in explorer.messages.text and not explorer.running
