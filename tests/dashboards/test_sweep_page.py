"""SweepPage without a browser: a local sweep fills rows and plots while it runs, Stop keeps the
finished rows, bad input and an unreachable scheduler show a message, and on a Dask cluster
reached by its address the page's rows equal :func:`adseq_lab.sweep.sweep`'s."""

from __future__ import annotations

import asyncio
import io
import socket
import time

import holoviews as hv
import panel as pn
import pytest

pd = pytest.importorskip("pandas")

from adseq_lab import sweep  # noqa: E402
from adseq_lab.dashboards import sweeps as module  # noqa: E402
from adseq_lab.dashboards.benchmarks import BenchmarksPage  # noqa: E402
from adseq_lab.dashboards.sweeps import DASK, SweepPage  # noqa: E402

GRID = dict(queue_kinds=["ring", "fifo_ring"], sizes="5, 8", steps="60", seeds="0", repeats=1)
MEASURED = list(sweep.MEASURED_COLUMNS)


def plotted(page: SweepPage, title: str) -> dict[str, tuple[list, list]]:
    """``{legend label: (x, y)}`` of the curves in the panel titled ``title``."""
    panel = next(p for p in page._plot.object if p.opts.get().kwargs.get("title") == title)
    return {
        e.label: (e.dimension_values(0).tolist(), e.dimension_values(1).tolist())
        for e in panel
        if isinstance(e, hv.Curve) and e.label
    }


def slow_points(monkeypatch, seconds: float, after=None):
    """Each point takes at least ``seconds`` longer; ``after(calls)`` runs once a point ends."""
    real = sweep.run_point
    calls = []

    def run_point(point, metrics=None):
        row = real(point, metrics)
        time.sleep(seconds)
        calls.append(point)
        if after is not None:
            after(len(calls))
        return row

    monkeypatch.setattr(sweep, "run_point", run_point)
    return calls


def test_local_sweep_fills_rows_and_plots_while_it_runs(monkeypatch):
    monkeypatch.setattr(module, "UPDATE_S", 0.05)
    slow_points(monkeypatch, 0.4)
    page = SweepPage(**GRID)
    seen = []  # (rows, points in the spikes plot, table rows) at each redraw
    show = page._show

    def recording_show(*args):
        count = show(*args)
        points = sum(len(x) for x, _ in plotted(page, "Spikes").values())
        seen.append((count, points, len(page._table.object)))
        return count

    monkeypatch.setattr(page, "_show", recording_show)
    asyncio.run(page.run_async())
    counts = [count for count, _, _ in seen]
    assert counts == sorted(counts) and counts[-1] == 4
    assert {1, 2, 3} <= set(counts)  # rows were drawn while later points still ran
    assert all(points == count and table == count for count, points, table in seen)
    assert "4 of 4 rows" in page._status.object and page.done == 4 and not page.running

    expected = sweep.sweep(sweep.grid(**page.axes()), progress=False)
    pd.testing.assert_frame_equal(
        page.frame().drop(columns=MEASURED), expected.drop(MEASURED, axis=1)
    )
    spikes = plotted(page, "Spikes")
    for queue, label in (("ring", "ring"), ("fifo_ring", "fifo_ring[4]")):
        rows = expected[expected["queue"] == queue]
        assert spikes[label] == (rows["n_neurons"].tolist(), rows["spikes"].astype(float).tolist())
    timing = plotted(page, "Time per step")
    assert all(all(y > 0 for y in ys) for _, ys in timing.values()) and len(timing) == 2
    hv.render(page._plot.object, backend="bokeh")
    csv = pd.read_csv(io.StringIO(page.csv_text()))
    assert list(csv["point_id"]) == list(expected["point_id"])
    assert list(csv["spikes"]) == list(expected["spikes"])


def test_curves_average_over_seeds_and_name_the_varied_settings():
    rows = [
        dict(queue="ring", capacity=None, n_neurons=n, seed=s, delay_ms=d, max_delay_ms=2 * d)
        | dict(spikes=sp, point_id=i)
        for i, (n, s, d, sp) in enumerate(
            ((5, 0, 1.0, 2), (5, 1, 1.0, 4), (8, 0, 1.0, 10), (5, 0, 2.0, 7))
        )
    ]
    page = SweepPage()
    page._rows, page.total = rows, 4
    page._show()
    assert plotted(page, "Spikes") == {
        "ring delay_ms=1.0": ([5, 8], [3.0, 10.0]),
        "ring delay_ms=2.0": ([5], [7.0]),
    }


def test_stop_keeps_the_finished_rows(monkeypatch):
    monkeypatch.setattr(module, "UPDATE_S", 0.05)
    page = SweepPage(**GRID)
    calls = slow_points(monkeypatch, 0.0, after=lambda n: page.stop() if n == 2 else None)
    asyncio.run(page.run_async())
    assert len(calls) == 2 and page.row_count() == 2 and not page.running
    assert "Sweep stopped: 2 of 4 grid points done" in page.messages.text
    assert len(pd.read_csv(io.StringIO(page.csv_text()))) == 2
    assert len(page._table.object) == 2 and "2 of 4 rows" in page._status.object


@pytest.mark.parametrize(
    "settings, needle",
    [
        (dict(sizes="ten"), "sizes: expected integers separated by commas"),
        (dict(sizes="0, 5"), r"sizes must be integers in [1, 2000], got [0]"),
        (dict(seeds=""), "seeds: give at least one integer"),
        (dict(queue_kinds=[]), "queue kinds: choose at least one"),
        (dict(delays_ms="1, nan"), "delays: expected numbers"),
        (dict(delays_ms="-1"), r"delays must be numbers in [0.0, 100.0], got [-1.0]"),
        (
            dict(connection_probs="0.5, 2"),
            r"connection probabilities must be numbers in [0.0, 1.0]",
        ),
        (dict(seeds=",".join(map(str, range(150)))), "the grid has 600 points"),
        (dict(where=DASK, scheduler="localhost:8786"), "scheduler must be an address"),
        (dict(where=DASK, scheduler="  "), "scheduler: give an address"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(monkeypatch, settings, needle):
    if settings.get("where") == DASK:
        pytest.importorskip("distributed")
    calls = slow_points(monkeypatch, 0.0)
    page = SweepPage(**{**GRID, **settings})
    asyncio.run(page.run_async())
    assert needle in page.messages.text and page.messages.pane.alert_type == "danger"
    assert calls == [] and page.row_count() == 0 and "refused" in page._status.object


def test_failing_points_are_named_and_the_other_rows_kept(monkeypatch):
    real = sweep.run_point

    def run_point(point, metrics=None):
        if point["n_neurons"] == 8 and point["queue"] == "ring":
            raise RuntimeError("worker lost its accelerator")
        return real(point, metrics)

    monkeypatch.setattr(sweep, "run_point", run_point)
    page = SweepPage(**GRID)
    asyncio.run(page.run_async())
    assert "1 grid point(s) failed" in page.messages.text
    assert "queue=ring capacity=None n_neurons=8 seed=0: RuntimeError: worker lost" in (
        page.messages.text
    )
    assert page.row_count() == 3 and "3 of 4 rows" in page._status.object


def test_unreachable_scheduler_shows_a_message():
    pytest.importorskip("distributed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    page = SweepPage(**GRID, where=DASK, scheduler=address, connect_timeout_s=1.0)
    asyncio.run(page.run_async())
    assert f"cannot reach the Dask scheduler at {address}" in page.messages.text
    assert page.row_count() == 0 and not page.running and "0 of 4 rows" in page._status.object


def test_rows_from_a_dask_scheduler_equal_the_local_sweep():
    """The page reaches a real scheduler over TCP by its address (workers in this process)."""
    distributed = pytest.importorskip("distributed")
    page = SweepPage(**{**GRID, "seeds": "0, 1"}, where=DASK)
    points = sweep.grid(**page.axes())
    with distributed.LocalCluster(
        processes=False,
        n_workers=2,
        threads_per_worker=1,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        page.scheduler = cluster.scheduler_address
        asyncio.run(page.run_async())
        assert "adseq-sweep" in cluster.scheduler.task_prefixes
    assert not page.messages.pane.visible and page.row_count() == len(points) == 8
    local = sweep.sweep(points, progress=False)
    pd.testing.assert_frame_equal(page.frame().drop(columns=MEASURED), local.drop(MEASURED, axis=1))


def test_benchmarks_page_shows_the_sweep_as_its_second_tab():
    page = BenchmarksPage()
    tabs = page.__panel__()
    assert isinstance(tabs, pn.Tabs) and tabs._names == ["Queue benchmark", "Network sweep"]
    assert isinstance(page.sweeps, SweepPage) and tabs[1] is page.sweeps.__panel__()
