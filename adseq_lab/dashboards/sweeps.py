"""Sweep page: a grid of network simulations run by :mod:`adseq_lab.sweep`, here or on a Dask
cluster, plotted and tabulated as the rows arrive.

The controls become the axes of :func:`adseq_lab.sweep.grid`; :func:`adseq_lab.sweep.iter_sweep`
checks them and the scheduler address before anything runs (a refusal shows in the message
pane). A worker thread iterates the sweep and appends each row under a lock; the event loop
redraws the plots and the table every ``UPDATE_S`` seconds when rows arrived, so Bokeh is only
touched from its own thread. Stop sets the sweep's ``stop`` event: the rows finished by then are
kept (locally the point in progress finishes first; on Dask the queued tasks are cancelled). The
table downloads as CSV, the format of ``adseq-lab sweep --out``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import holoviews.plotting.bokeh  # noqa: F401  (registers and selects the Bokeh backend)
import pandas as pd
import panel as pn
import param

from .. import plotting, queues, sweep
from ..sweep_cli import SUMMARY_COLUMNS
from .common import LOG, Messages, on_session_end

__all__ = ["SweepPage"]

UPDATE_S = 0.5
MAX_POINTS = 200
MAX_NEURONS = 2_000
MAX_STEPS = 50_000
LOCAL, DASK = "here (local)", "Dask scheduler"


def _values(text: str, name: str, convert: Callable[[str], Any], expected: str) -> list:
    """Comma-separated values of a text field; ``ValueError`` naming the field."""
    items = [item.strip() for item in str(text).replace(";", ",").split(",") if item.strip()]
    try:
        return [convert(item) for item in items]
    except ValueError:
        raise ValueError(f"{name}: expected {expected} separated by commas, got {text!r}") from None


def _bounded(values: list[int], name: str, low: int, high: int) -> list[int]:
    if not values:
        raise ValueError(f"{name}: give at least one integer in [{low}, {high}]")
    wrong = [v for v in values if not low <= v <= high]
    if wrong:
        raise ValueError(f"{name} must be integers in [{low}, {high}], got {wrong}")
    return values


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


FLOAT_AXES = {
    "delay_ms": ("delays", "delays_ms", (0.0, 100.0)),
    "connection_prob": ("connection probabilities", "connection_probs", (0.0, 1.0)),
    "current": ("currents", "currents", (-10.0, 10.0)),
}
"""Optional float axes: ``sweep setting: (field name, page parameter, allowed range)``."""


class SweepPage(pn.viewable.Viewer):
    """Choose the grid and where to run it; Run sweeps in a worker thread, Stop ends early."""

    queue_kinds = param.ListSelector(
        default=["fifo_ring", "ring"], objects=queues.names(), doc="Queue kinds"
    )
    capacities = param.String(default="4", doc="Capacities of the kinds with one (commas)")
    sizes = param.String(default="10, 20, 40", doc="Neurons per network (commas)")
    steps = param.String(default="200", doc="Time steps of 0.1 ms per run (commas)")
    seeds = param.String(default="0, 1", doc="Seeds of network and drive (commas)")
    delays_ms = param.String(default="", doc="Mean delays in ms (commas; blank: 1.0)")
    connection_probs = param.String(default="", doc="Connection probabilities (blank: 0.5)")
    currents = param.String(default="", doc="Drive currents (blank: 0.15)")
    repeats = param.Integer(default=2, bounds=(0, 20), doc="Timed runs per point (0: no timing)")
    where = param.Selector(default=LOCAL, objects=[LOCAL, DASK], doc="Where the points run")
    scheduler = param.String(default="tcp://127.0.0.1:8786", doc="Dask scheduler address")
    connect_timeout_s = param.Number(default=10.0, bounds=(0.1, 120.0), precedence=-1)
    done = param.Integer(default=0, doc="Rows received in the current run")
    total = param.Integer(default=1, doc="Points in the current run")
    running = param.Boolean(default=False)

    def __init__(self, **params):
        super().__init__(**params)
        self.messages = Messages()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._points: list[dict[str, Any]] = []
        self._drawn = -1  # rows in the plots and table shown (-1: none drawn yet)
        self._plot = pn.pane.HoloViews(plotting.sweep_curves(pd.DataFrame()))
        self._table = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width")
        self._status = pn.pane.Markdown("No sweep yet.", css_classes=["sweep-status"])
        self._layout = self._build()
        on_session_end(self.stop)

    # ---- the library call, from the controls ------------------------------------------------
    def axes(self) -> dict[str, list]:
        """The axes of :func:`adseq_lab.sweep.grid` for the current choices."""
        if not self.queue_kinds:
            raise ValueError("queue kinds: choose at least one")
        axes: dict[str, list] = {
            "queue": list(self.queue_kinds),
            "capacity": _bounded(
                _values(self.capacities, "capacities", int, "integers"), "capacities", 1, 64
            ),
            "n_neurons": _bounded(
                _values(self.sizes, "sizes", int, "integers"), "sizes", 1, MAX_NEURONS
            ),
            "steps": _bounded(_values(self.steps, "steps", int, "integers"), "steps", 1, MAX_STEPS),
            "seed": _bounded(_values(self.seeds, "seeds", int, "integers"), "seeds", 0, 2**32 - 1),
            "repeats": [self.repeats],
        }
        for key, (name, attribute, (low, high)) in FLOAT_AXES.items():
            values = _values(getattr(self, attribute), name, _finite, "numbers")
            wrong = [v for v in values if not low <= v <= high]
            if wrong:
                raise ValueError(f"{name} must be numbers in [{low}, {high}], got {wrong}")
            if values:
                axes[key] = values
        return axes

    def points(self) -> list[dict[str, Any]]:
        """The completed grid points (``ValueError`` for bad input or too large a grid)."""
        points = sweep.grid(**self.axes())
        if len(points) > MAX_POINTS:
            raise ValueError(
                f"the grid has {len(points)} points; the page runs at most {MAX_POINTS} "
                "(use `adseq-lab sweep` for larger grids)"
            )
        return points

    def target(self) -> str | None:
        """``None`` to run here, else the scheduler address."""
        if self.where == LOCAL:
            return None
        if importlib.util.find_spec("distributed") is None:
            raise ValueError(
                "where: running on a Dask scheduler needs the dask extra "
                "(pip install 'adseq-lab[dask]')"
            )
        address = self.scheduler.strip()
        if not address:
            raise ValueError("scheduler: give an address such as tcp://127.0.0.1:8786")
        return address

    def _prepare(self) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]]]:
        """The points and the (checked, not yet started) row iterator."""
        points = self.points()
        rows = sweep.iter_sweep(
            points,
            scheduler=self.target(),
            stop=self._stop,
            connect_timeout_s=self.connect_timeout_s,
        )
        return points, rows

    def _collect(self, rows: Iterator[dict[str, Any]]) -> str | None:
        """Worker thread: append each row as it arrives; the message to show, if any."""
        try:
            for row in rows:
                with self._lock:
                    self._rows.append(row)
        except sweep.SweepError as error:
            return f"**Failed:** {error}"[:1500]
        except ValueError as error:
            return f"**Refused:** {error}"
        except (OSError, RuntimeError) as error:  # unreachable scheduler, version mismatch
            return f"**Failed:** {error}"[:1500]
        except Exception as error:  # the boundary: log it, keep the server and page alive
            LOG.exception("sweep failed")
            return f"**Failed:** {type(error).__name__} (details in the server log)"
        return None

    # ---- running ----------------------------------------------------------------------------
    async def run_async(self, event=None) -> None:
        """The Run button: sweep in a worker thread, redrawing every ``UPDATE_S`` seconds."""
        if self.running:
            return
        self.messages.clear()
        self._stop.clear()
        ok, prepared = self.messages.guarded(self._prepare)
        if not ok:
            self._status.object = "Sweep refused (see the message above)."
            return
        points, rows = prepared
        self._start(points)
        self.running = True
        where = "here" if self.where == LOCAL else f"on {self.scheduler.strip()}"
        self._show(f"Running {len(points)} points {where}…")
        try:
            worker = asyncio.ensure_future(asyncio.to_thread(self._collect, rows))
            while not worker.done():
                await asyncio.wait({worker}, timeout=UPDATE_S)
                if self.row_count() != self.done:
                    self._show(f"Running {len(points)} points {where}…")
            failure = worker.result()
            count = self._show()
            if failure:
                self.messages.refuse(failure)
            elif self._stop.is_set() and count < len(points):
                self.messages.note(
                    f"Sweep stopped: {count} of {len(points)} grid points done; "
                    "the finished rows are kept."
                )
        finally:
            self.running = False

    def run_now(self) -> bool:
        """Run the sweep synchronously (notebooks, tests); False if it was refused or failed."""
        self.messages.clear()
        self._stop.clear()
        ok, prepared = self.messages.guarded(self._prepare)
        if not ok:
            return False
        points, rows = prepared
        self._start(points)
        failure = self._collect(rows)
        self._show()
        if failure:
            self.messages.refuse(failure)
        return failure is None

    def stop(self, event=None) -> None:
        self._stop.set()

    def _start(self, points: list[dict[str, Any]]) -> None:
        with self._lock:
            self._points, self._rows = points, []
        self._drawn = -1
        self.done, self.total = 0, len(points)

    # ---- results ----------------------------------------------------------------------------
    def row_count(self) -> int:
        with self._lock:
            return len(self._rows)

    def frame(self) -> pd.DataFrame:
        """Every row received, in grid order (:func:`adseq_lab.sweep.to_frame`)."""
        with self._lock:
            rows, points = list(self._rows), list(self._points)
        return sweep.to_frame(rows, points) if rows else pd.DataFrame()

    def table(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The summary columns of the rows (the CSV holds every column)."""
        frame = self.frame() if frame is None else frame
        if frame.empty:
            return frame
        shown = frame[[c for c in SUMMARY_COLUMNS if c in frame]]
        shown = shown.round({"mean_rate_hz": 2, "us_per_step": 2}).astype(object)
        return shown.where(shown.notna(), "–")  # capacity of kinds without one, no timing

    def csv_text(self) -> str:
        """The whole table as CSV (every column; empty before the first row)."""
        return self.frame().to_csv(index=False)

    def _download(self) -> io.StringIO:
        return io.StringIO(self.csv_text())

    # ---- view -------------------------------------------------------------------------------
    def _show(self, running: str = "") -> int:
        """Redraw plots, table and status from the rows so far; the number of rows shown."""
        frame = self.frame()
        if len(frame) != self._drawn:
            self._plot.object = plotting.sweep_curves(frame)
            self._table.object = self.table(frame)
            self._drawn = len(frame)
        self.done = len(frame)
        untimed = " (repeats 0: no timing)" if len(frame) and self.repeats == 0 else ""
        status = f"**{len(frame)} of {self.total} rows**{untimed}"
        self._status.object = f"{status} · {running}" if running else status
        return len(frame)

    def _build(self) -> pn.viewable.Viewable:
        w = pn.widgets
        p = self.param
        run = w.Button(label="Run sweep", color="primary", disabled=p.running)
        stop = w.Button(label="Stop sweep", color="warning")
        run.on_click(self.run_async)
        stop.on_click(self.stop)
        progress = pn.indicators.Progress(value=p.done, max=p.total, width=260, bar_color="info")
        controls = pn.Column(
            "### Grid",
            w.MultiChoice.from_param(p.queue_kinds, label="Queue kinds"),
            w.TextInput.from_param(p.capacities, label="Capacities"),
            w.TextInput.from_param(p.sizes, label="Neurons (sizes)"),
            w.TextInput.from_param(p.steps, label="Time steps"),
            w.TextInput.from_param(p.seeds, label="Seeds"),
            w.TextInput.from_param(p.delays_ms, label="Mean delays (ms)", placeholder="1.0"),
            w.TextInput.from_param(
                p.connection_probs, label="Connection probabilities", placeholder="0.5"
            ),
            w.TextInput.from_param(p.currents, label="Drive currents", placeholder="0.15"),
            w.IntInput.from_param(p.repeats, label="Timed repeats"),
            "### Where",
            w.RadioButtonGroup.from_param(p.where),
            w.TextInput.from_param(p.scheduler, label="Scheduler address"),
            pn.Row(run, stop),
            progress,
            w.FileDownload(
                callback=self._download, filename="sweep.csv", label="Download table (CSV)"
            ),
            width=300,
        )
        main = pn.Column(
            pn.pane.Markdown(
                "## Network sweep\nOne recurrent LIF network simulation per grid point "
                "(`adseq_lab.sweep`), on this server or on a Dask cluster; comma-separated "
                "values make the axes. Points that share a seed share network and drive, so "
                "queue kinds are compared on the same input. Values are averaged over seeds."
            ),
            self.messages.pane,
            self._status,
            self._plot,
            self._table,
            sizing_mode="stretch_width",
        )
        return pn.Row(controls, main, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
