"""BenchmarksPage without a browser: live points, saved JSON, refusals, Stop."""

from __future__ import annotations

import asyncio
import json

import holoviews as hv
import pytest

from adseq_lab.bench import measure
from adseq_lab.dashboards import benchmarks as module
from adseq_lab.dashboards.benchmarks import BenchmarksPage

SAVED = {
    "workload": "queues",
    "results": [
        {"kind": "FIFORing[4]", "n": 1000, "implementation": "adseq_lab", "median_us": 10.0},
        {"kind": "FIFORing[4]", "n": 1000, "implementation": "adseq", "median_us": 25.0},
        {"kind": "FIFORing[4]", "n": 10000, "implementation": "adseq_lab", "median_us": 40.0},
        {"kind": "FIFORing[4]", "n": 10000, "implementation": "adseq", "median_us": 120.0},
        {"kind": "Ring", "n": 1000, "implementation": "adseq_lab", "median_us": 20.0},
        {"kind": "BinaryHeap[7]", "n": 1000, "implementation": "adseq", "error": "ValueError: x"},
    ],
}


def test_saved_json_is_tabulated_and_plotted_beside_adseq():
    page = BenchmarksPage()
    assert page.load_json(json.dumps(SAVED))
    table = page.table().set_index(["kind", "N"])
    assert table.loc[("FIFORing[4]", 1000), "speedup"] == pytest.approx(2.5)
    assert table.loc[("FIFORing[4]", 10000), "speedup"] == pytest.approx(3.0)
    plot = page._plot.object
    assert isinstance(plot, hv.Layout) and len(plot) == 2  # adseq-lab and adseq 0.9.4 panels
    ours = plot[0]
    fifo = next(e for e in ours if e.label == "FIFORing[4]" and isinstance(e, hv.Curve))
    assert fifo.dimension_values(0).tolist() == [1000, 10000]
    assert fifo.dimension_values(1).tolist() == [10.0, 40.0]
    assert "5 points plotted (1 failed in adseq 0.9.4)" in page._status.object
    hv.render(plot, backend="bokeh")
    again = BenchmarksPage()
    assert again.load_json(page.json_text())  # a saved page loads back to the same figures
    assert again.frame().equals(page.frame())


@pytest.mark.parametrize(
    "text,needle",
    [
        ("{not json", "not valid JSON"),
        ('{"results": 3}', "'results' list"),
        ('{"results": [{"kind": "Ring", "n": 10}]}', "need kind, n, implementation"),
        (
            '{"results": [{"kind": "Ring", "n": "ten", "implementation": "x", "median_us": 1}]}',
            "n must be an integer",
        ),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_files_are_refused_and_the_shown_results_kept(text, needle):
    page = BenchmarksPage()
    page.load_json(json.dumps(SAVED))
    shown = page.results
    assert not page.load_json(text)
    assert needle in page.messages.text and page.results is shown


def test_live_run_measures_each_point_with_the_library():
    page = BenchmarksPage(kinds=["fifo_ring", "ring"], sizes=[100], steps=20, repeats=1)
    page.with_adseq = False
    assert page.run_now()
    rows = page.results
    assert [(r["kind"], r["n"], r["implementation"]) for r in rows] == [
        ("FIFORing[4]", 100, "adseq_lab"),
        ("Ring", 100, "adseq_lab"),
    ]
    assert all(r["median_us"] > 0 and r["steps"] == 20 for r in rows)
    assert page.done == page.total == 2


def test_stop_ends_the_run_after_the_point_in_progress(monkeypatch):
    page = BenchmarksPage(kinds=["fifo_ring", "ring"], sizes=[100, 1000], with_adseq=False)
    measured = []

    def fake_measure(kind, n, implementation):
        measured.append((kind, n))
        page.stop()  # the user presses Stop while the first point runs
        return {"kind": kind, "n": n, "implementation": implementation, "median_us": 1.0}

    monkeypatch.setattr(page, "measure", fake_measure)
    asyncio.run(page.run_async())
    assert measured == [("fifo_ring", 100)] and len(page.results) == 1
    assert "Stopped after 1 of 4" in page.messages.text and not page.running


def test_adseq_comparison_is_refused_where_it_is_not_installed(monkeypatch):
    monkeypatch.setattr(module.measure, "adseq_available", lambda: False)
    page = BenchmarksPage(with_adseq=True)
    assert not page.run_now()
    assert "adseq 0.9.4 is not installed" in page.messages.text


def test_a_failing_adseq_point_becomes_an_error_row(monkeypatch):
    def failing(kind, capacity, n, steps, repeats, implementation):
        raise TypeError("stop_gradient transpose")

    monkeypatch.setattr(module.queue_bench, "measure_point", failing)
    page = BenchmarksPage()
    row = page.measure("binary_heap", 100, "adseq")
    assert row["kind"] == "BinaryHeap[7]" and "TypeError" in row["error"]
    with pytest.raises(TypeError):
        page.measure("binary_heap", 100, "adseq_lab")


def test_saved_run_button_reads_the_default_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = BenchmarksPage()
    page._load_saved()
    assert "No saved run" in page.messages.text
    path = tmp_path / measure.DEFAULT_DIR / "queues.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(SAVED))
    page._load_saved()
    assert len(page.frame()) == 5 and not page.messages.pane.visible
