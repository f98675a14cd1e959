"""Benchmarks page: time per step against N per queue kind, measured live or loaded from JSON;
and, in its second tab, network parameter sweeps (:class:`~adseq_lab.dashboards.sweeps.SweepPage`).

Points are measured one at a time by :func:`adseq_lab.bench.queues.measure_point` in a worker
thread (the page stays live; Stop ends the run after the point in progress). A saved JSON from
``adseq-lab bench queues`` loads through the file picker; it is parsed as JSON, nothing else.
The sweep tab runs a grid of network simulations (:mod:`adseq_lab.sweep`) here or on a Dask
scheduler given by address, fills its plots and table as rows arrive, stops early keeping the
finished rows, and downloads the table as CSV.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pandas as pd
import panel as pn
import param

from .. import plotting, queues
from ..bench import measure
from ..bench import queues as queue_bench
from .common import Messages, on_session_end
from .sweeps import SweepPage

__all__ = ["BenchmarksPage"]

SIZES = [100, 300, 1_000, 3_000, 10_000, 30_000, 100_000]
SAVED = measure.DEFAULT_DIR / "queues.json"


class BenchmarksPage(pn.viewable.Viewer):
    """Queue throughput (the seed's Poisson workload, 100 Hz, delay 80 steps) per kind and N;
    network sweeps (``sweeps``, a :class:`SweepPage`) in the second tab."""

    kinds = param.ListSelector(
        default=["fifo_ring", "ring", "sorted_array", "binary_heap"],
        objects=[kind for kind, _ in queue_bench.KINDS],
        doc="Queue kinds (capacities as in the seed's list)",
    )
    sizes = param.ListSelector(default=[1_000, 10_000], objects=SIZES, doc="N: queues per run")
    steps = param.Integer(default=500, bounds=(10, 20_000), doc="Time steps per timed run")
    repeats = param.Integer(default=3, bounds=(1, 20), doc="Timed runs per point (median)")
    with_adseq = param.Boolean(
        default=measure.adseq_available(), doc="Also time adseq 0.9.4 (when installed)"
    )
    results = param.List(default=[], doc="Measured or loaded rows", precedence=-1)
    done = param.Integer(default=0, doc="Points measured in the current run")
    total = param.Integer(default=1, doc="Points in the current run")
    running = param.Boolean(default=False)

    def __init__(self, **params):
        super().__init__(**params)
        self.messages = Messages()
        self._stop_requested = False
        self._plot = pn.pane.HoloViews(plotting.benchmark_curves(plotting.benchmark_frame([])))
        self._table = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width")
        self._status = pn.pane.Markdown("No results yet.", css_classes=["bench-status"])
        self._activity = pn.pane.Markdown("", css_classes=["bench-activity"])
        self.sweeps = SweepPage()
        self._layout = self._build()
        on_session_end(self.stop)

    # ---- measuring -----------------------------------------------------------------------
    def points(self) -> list[tuple[str, int, str]]:
        """``(kind, N, implementation)`` for the current choices, smallest N first."""
        if not self.kinds or not self.sizes:
            raise ValueError("kinds and sizes: choose at least one of each")
        implementations = ["adseq_lab"]
        if self.with_adseq:
            if not measure.adseq_available():
                raise ValueError("with_adseq: adseq 0.9.4 is not installed here")
            implementations.append("adseq")
        return [
            (kind, n, impl)
            for n in sorted(self.sizes)
            for kind in self.kinds
            for impl in implementations
        ]

    def measure(self, kind: str, n: int, implementation: str) -> dict:
        """One point; an implementation that fails (adseq 0.9.4 on some kinds) gives an error
        row instead of stopping the run."""
        capacity = dict(queue_bench.KINDS)[kind]
        try:
            return queue_bench.measure_point(
                kind, capacity, n, self.steps, self.repeats, implementation
            )
        except Exception as error:
            if implementation == "adseq_lab":
                raise
            return {
                "kind": queues.get(kind, capacity).__name__,
                "name": kind,
                "n": n,
                "implementation": implementation,
                "error": f"{type(error).__name__}: {error}"[:200],
            }

    async def run_async(self, event=None) -> None:
        """Measure every point in a worker thread, plotting each as it arrives."""
        if self.running:
            return
        self.messages.clear()
        ok, points = self.messages.guarded(self.points)
        if not ok:
            return
        self._stop_requested = False
        self.running = True
        self._progress(0, len(points))
        self.results = []
        try:
            for kind, n, implementation in points:
                if self._stop_requested:
                    self.messages.note(f"Stopped after {self.done} of {self.total} points.")
                    break
                self._activity.object = (
                    f"Measuring {kind}, N = {n:,} ({implementation})… "
                    f"{self.done} of {self.total} done"
                )
                ok, row = await asyncio.to_thread(
                    self.messages.guarded,
                    lambda k=kind, m=n, i=implementation: self.measure(k, m, i),
                )
                if not ok:
                    break
                self.param.update(results=self.results + [row], done=self.done + 1)
        finally:
            self._activity.object = ""
            self.running = False

    def run_now(self) -> bool:
        """Measure every point synchronously (notebooks, tests); False if refused."""
        self.messages.clear()
        ok, points = self.messages.guarded(self.points)
        if not ok:
            return False
        self._progress(0, len(points))
        self.results = []
        for point in points:
            ok, row = self.messages.guarded(lambda p=point: self.measure(*p))
            if not ok:
                return False
            self.param.update(results=self.results + [row], done=self.done + 1)
        return True

    def stop(self, event=None) -> None:
        self._stop_requested = True

    def _progress(self, done: int, total: int) -> None:
        """Set the progress bar (value first to 0, so it never exceeds its maximum)."""
        self.done = 0
        self.total = max(total, 1)
        self.done = done

    # ---- loading -------------------------------------------------------------------------
    def load_json(self, text: str | bytes) -> bool:
        """Show the results of a saved benchmark JSON; False (message shown) if unreadable."""
        self.messages.clear()

        def parse():
            try:
                payload = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ValueError(f"file: not valid JSON ({error})") from None
            rows = payload.get("results") if isinstance(payload, dict) else payload
            if not isinstance(rows, list):
                raise ValueError("file: expected a benchmark JSON with a 'results' list")
            plotting.benchmark_frame(rows)
            return rows

        ok, rows = self.messages.guarded(parse)
        if ok:
            self._progress(len(rows), len(rows))
            self.results = rows
        return ok

    def json_text(self) -> str:
        """The shown results in the format of ``adseq-lab bench queues`` (loadable again)."""
        payload = {"host": measure.host(), "workload": "queues", "results": self.results}
        return json.dumps(payload, indent=2)

    def _download(self) -> io.StringIO:
        return io.StringIO(self.json_text())

    def _load_upload(self, event) -> None:
        if event.new:
            self.load_json(event.new)

    def _load_saved(self, event=None) -> None:
        path = Path(SAVED)
        if not path.is_file():
            self.messages.refuse(f"No saved run at `{path}`: run `adseq-lab bench queues` first.")
            return
        self.load_json(path.read_text())

    # ---- view ----------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        return plotting.benchmark_frame(self.results)

    def table(self) -> pd.DataFrame:
        """One row per (kind, N): µs/step of adseq-lab, of adseq 0.9.4, and the speedup."""
        frame = self.frame()
        if frame.empty:
            return frame
        wide = frame.pivot_table(
            index=["kind", "n"], columns="implementation", values="median_us"
        ).reset_index()
        wide.columns.name = None
        if "adseq" in wide and "adseq_lab" in wide:
            wide["speedup"] = wide["adseq"] / wide["adseq_lab"]
        return wide.round(2).rename(
            columns={"n": "N", "adseq_lab": "adseq-lab µs/step", "adseq": "adseq 0.9.4 µs/step"}
        )

    @param.depends("results", watch=True)
    def _refresh(self) -> None:
        frame = self.frame()
        self._plot.object = plotting.benchmark_curves(frame)
        self._table.object = self.table()
        errors = [r for r in self.results if isinstance(r, dict) and "error" in r]
        note = f" ({len(errors)} failed in adseq 0.9.4)" if errors else ""
        plural = "" if len(frame) == 1 else "s"
        self._status.object = f"{len(frame)} point{plural} plotted{note}."

    def _build(self) -> pn.viewable.Viewable:
        w = pn.widgets
        run = w.Button(label="Run benchmark", color="primary", disabled=self.param.running)
        stop = w.Button(label="■ Stop", color="warning")
        run.on_click(self.run_async)
        stop.on_click(self.stop)
        upload = w.FileInput(accept=".json", multiple=False)
        upload.param.watch(self._load_upload, "value")
        saved = w.Button(label=f"Load {SAVED}")
        saved.on_click(self._load_saved)
        progress = pn.indicators.Progress(
            value=self.param.done, max=self.param.total, width=260, bar_color="info"
        )
        controls = pn.Column(
            "### Queue benchmark",
            w.MultiChoice.from_param(self.param.kinds, label="Queue kinds"),
            w.MultiChoice.from_param(self.param.sizes, label="N (queues)"),
            w.IntInput.from_param(self.param.steps, label="Steps per run"),
            w.IntInput.from_param(self.param.repeats, label="Repeats (median)"),
            w.Checkbox.from_param(self.param.with_adseq, label="Also time adseq 0.9.4"),
            pn.Row(run, stop),
            progress,
            w.FileDownload(
                callback=self._download, filename="queues.json", label="Save results (JSON)"
            ),
            "### Or load a saved run",
            upload,
            saved,
            width=300,
        )
        main = pn.Column(
            pn.pane.Markdown(
                "## Benchmarks\nThe seed's queue workload: N queues side by side, Poisson events "
                "at 100 Hz (one per 400 steps of 0.025 ms), delay 80 steps (2 ms); median time "
                "per step. adseq 0.9.4's figures, where present, are plotted beside adseq-lab's."
            ),
            self.messages.pane,
            pn.Row(self._status, self._activity),
            self._plot,
            self._table,
            sizing_mode="stretch_width",
        )
        return pn.Tabs(
            ("Queue benchmark", pn.Row(controls, main, sizing_mode="stretch_width")),
            ("Network sweep", self.sweeps),
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
