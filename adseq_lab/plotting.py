"""Plot builders shared by the dashboards, the notebooks and the CLI.

Each function takes plain numpy/pandas data (or a :class:`~adseq_lab.queue_trace.QueueTrace`,
itself plain numpy) and returns a HoloViews object rendered with Bokeh. HoloViews is imported
inside the functions (the ``lab`` extra), so ``import adseq_lab`` never loads it. Axes carry
units: ``step`` for time steps, ``ms`` for times and delays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import holoviews as hv
    import pandas as pd

    from .queue_trace import QueueTrace

__all__ = [
    "queue_history",
    "queue_occupancy",
    "curves",
    "raster",
    "voltage_traces",
    "population_rate",
    "delay_trajectories",
    "loss_curve",
    "benchmark_frame",
    "benchmark_curves",
    "sweep_curves",
]

DATASHADE_ABOVE = 100_000
"""Rasters with more spikes than this are rasterized with datashader."""

WIDTH, HEIGHT = 640, 320
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
EVENT_COLORS = {"entered": "#2ca02c", "popped": "#1f77b4", "dropped": "#d62728"}


def _holoviews():
    """HoloViews with the Bokeh backend loaded (imported on first use)."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (registers and selects the Bokeh backend)

    return hv


def _frame(**columns: Any) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({name: np.asarray(values) for name, values in columns.items()})


def queue_history(trace: QueueTrace, queue: int = 0, until: int | None = None) -> hv.Overlay:
    """Queue ``queue`` of ``trace`` over time: every held event at each step (y: its arrival
    step, colour: its tangent in ms), events entering, popped and dropped, and the "due" diagonal
    where an event's arrival step equals the step. ``until`` shows steps ``<= until`` only (the
    axes stay those of the whole run, so an animation does not jump)."""
    hv = _holoviews()
    steps = trace.steps
    until = steps - 1 if until is None else int(np.clip(until, 0, steps - 1))
    held_arrival = trace.held_arrival[: until + 1, queue]
    step_grid = np.broadcast_to(np.arange(until + 1)[:, None], held_arrival.shape)
    kept = trace.held_count[: until + 1, queue] > 0
    held = _frame(
        step=step_grid[kept],
        arrival=held_arrival[kept],
        count=trace.held_count[: until + 1, queue][kept],
        tangent=trace.held_tangent[: until + 1, queue][kept],
    )
    top = max(
        float(np.nanmax(trace.entered.arrival_step, initial=0.0)),
        float(np.nanmax(trace.held_arrival, initial=0.0)),
        steps - 1.0,
    )
    xlim, ylim = (-0.5, steps - 0.5), (-0.5, top + 0.5)
    dims = [hv.Dimension("step", label="step"), hv.Dimension("arrival", label="arrival step")]
    vdims = ["count", "tangent"]
    tangent_note = "tangent (ms)" if trace.has_tangents else "no tangents (integer kind)"
    held_points = hv.Points(held, dims, vdims, label="held").opts(
        color="tangent" if trace.has_tangents else "#7f7f7f",
        cmap="coolwarm",
        symmetric=True,
        colorbar=trace.has_tangents,
        clabel=tangent_note,
        size=hv.dim("count") * 3 + 4,
        marker="square",
        alpha=0.8,
        tools=["hover"],
    )
    layers = [
        hv.Slope(1, 0).opts(color="#aaaaaa", line_dash="dashed", line_width=1),
        held_points,
    ]
    for name, table, marker in (
        ("entered", trace.entered, "triangle"),
        ("popped", trace.popped, "circle"),
        ("dropped", trace.lost, "x"),
    ):
        mine = (table.queue == queue) & (table.step <= until)
        frame = _frame(
            step=table.step[mine],
            arrival=table.arrival_step[mine],
            count=table.count[mine],
            tangent=table.tangent[mine],
        )
        layers.append(
            hv.Points(frame, dims, vdims, label=name).opts(
                color=EVENT_COLORS[name],
                marker=marker,
                size=11 if name == "dropped" else 9,
                fill_alpha=0.0 if name != "dropped" else 1.0,
                line_width=2,
                tools=["hover"],
            )
        )
    layers.append(hv.VLine(until).opts(color="black", line_width=1, alpha=0.4))
    return hv.Overlay(layers).opts(
        title=f"{trace.queue_name}, queue {queue}: events over time",
        xlabel="step",
        ylabel="arrival step",
        width=WIDTH,
        height=HEIGHT,
        xlim=xlim,
        ylim=ylim,
        legend_position="bottom_right",
        show_grid=True,
    )


def curves(
    x: np.ndarray,
    series: Mapping[str, np.ndarray],
    xlabel: str,
    ylabel: str,
    title: str,
    step: bool = False,
    logx: bool = False,
    logy: bool = False,
) -> hv.Overlay:
    """One curve per ``series`` entry against ``x`` (labels are the legend)."""
    hv = _holoviews()
    layers = [hv.Curve(([], []), xlabel, ylabel)]
    for label, y in series.items():
        curve = hv.Curve((np.asarray(x), np.asarray(y)), xlabel, ylabel, label=str(label))
        layers.append(curve.opts(interpolation="steps-post" if step else "linear", tools=["hover"]))
    return hv.Overlay(layers).opts(
        title=title,
        width=WIDTH,
        height=HEIGHT * 4 // 5,
        logx=logx,
        logy=logy,
        legend_position="right",
        show_grid=True,
    )


def queue_occupancy(
    traces: Sequence[QueueTrace], queue: int = 0, until: int | None = None
) -> hv.Layout:
    """Events held and cumulative dropped events against step, one curve per kind."""
    if not traces:
        raise ValueError("queue_occupancy needs at least one trace")
    stop = traces[0].steps if until is None else int(until) + 1
    steps = np.arange(stop)
    held = {t.queue_name: t.pending[:stop, queue] for t in traces}
    dropped = {t.queue_name: t.dropped[:stop, queue] for t in traces}
    return (
        curves(steps, held, "step", "events held", "Queue occupancy", step=True)
        + curves(steps, dropped, "step", "events dropped (total)", "Dropped events", step=True)
    ).cols(2)


def raster(
    times_ms: np.ndarray,
    neurons: np.ndarray,
    n_neurons: int | None = None,
    duration_ms: float | None = None,
    datashade_above: int = DATASHADE_ABOVE,
) -> hv.Element:
    """Spike raster: one dot per spike (time in ms, neuron index); rasterized with datashader
    above ``datashade_above`` spikes."""
    hv = _holoviews()
    frame = _frame(time=np.asarray(times_ms, float), neuron=np.asarray(neurons, int))
    dims = [hv.Dimension("time", label="time", unit="ms"), hv.Dimension("neuron")]
    points = hv.Points(frame, dims)
    xlim = (0.0, float(duration_ms)) if duration_ms is not None else (None, None)
    ylim = (-0.5, n_neurons - 0.5) if n_neurons is not None else (None, None)
    opts = dict(title=f"Spike raster ({len(frame):,} spikes)", width=WIDTH, height=HEIGHT)
    if len(frame) > datashade_above:
        from holoviews.operation.datashader import dynspread, rasterize

        shaded = dynspread(rasterize(points, x_range=xlim, y_range=ylim).opts(cmap="kbc_r"))
        return shaded.opts(xlim=xlim, ylim=ylim, **opts)
    return points.opts(size=2, color="black", marker="dash", angle=90, xlim=xlim, ylim=ylim, **opts)


def voltage_traces(
    t_ms: np.ndarray, v: np.ndarray, neurons: Sequence[int] | None = None
) -> hv.Overlay:
    """Membrane potential against time (ms): one curve per column of ``v`` ``(T, k)``, labelled
    with ``neurons`` (the neuron index of each column; default ``0 .. k-1``)."""
    v = np.asarray(v).reshape(len(t_ms), -1)
    neurons = range(v.shape[1]) if neurons is None else neurons
    series = {f"neuron {i}": v[:, column] for column, i in enumerate(neurons)}
    return curves(t_ms, series, "time (ms)", "membrane potential", "Voltage traces")


def population_rate(
    times_ms: np.ndarray, n_neurons: int, duration_ms: float, bin_ms: float = 1.0
) -> hv.Overlay:
    """Population firing rate (Hz per neuron) in bins of ``bin_ms``."""
    if n_neurons < 1 or duration_ms <= 0 or bin_ms <= 0:
        raise ValueError("population_rate needs n_neurons >= 1, duration_ms > 0 and bin_ms > 0")
    edges = np.arange(0.0, duration_ms + bin_ms, bin_ms)
    counts, _ = np.histogram(np.asarray(times_ms, float), edges)
    rate_hz = counts / n_neurons / (bin_ms * 1e-3)
    return curves(
        edges[:-1], {"rate": rate_hz}, "time (ms)", "rate (Hz)", "Population rate", step=True
    )


def delay_trajectories(
    steps: np.ndarray, delays_ms: np.ndarray, labels: Sequence[str] | None = None
) -> hv.Overlay:
    """Each learned delay (columns of ``delays_ms``, shape ``(S, d)``) against training step."""
    delays_ms = np.asarray(delays_ms).reshape(len(steps), -1)
    labels = labels or [f"delay {i}" for i in range(delays_ms.shape[1])]
    series = dict(zip(labels, delays_ms.T, strict=True))
    return curves(steps, series, "training step", "delay (ms)", "Delay trajectories")


def loss_curve(steps: np.ndarray, loss: Mapping[str, np.ndarray] | np.ndarray) -> hv.Overlay:
    """Loss (or several named curves, e.g. train/test) against training step."""
    series = loss if isinstance(loss, Mapping) else {"loss": loss}
    return curves(steps, series, "training step", "loss", "Loss")


def benchmark_frame(payload: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows of a benchmark JSON (``adseq-lab bench queues``) as a frame with columns
    ``kind``, ``n``, ``implementation``, ``median_us`` (and ``peak_bytes`` where measured).
    Rows that recorded an error are left out."""
    import pandas as pd

    rows = payload.get("results", []) if isinstance(payload, Mapping) else payload
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
        raise ValueError("benchmark results must be a list of rows")
    columns = ["kind", "n", "implementation", "median_us"]
    clean = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise ValueError(f"benchmark rows must be objects, got {type(row).__name__}")
        if "error" in row:
            continue
        if any(row.get(c) is None for c in columns):
            raise ValueError(f"benchmark rows need {', '.join(columns)} (or an error); got {row}")
        clean.append(dict(row))
    frame = pd.DataFrame(clean, columns=list(dict.fromkeys(columns + _extra_columns(clean))))
    try:
        frame["n"] = frame["n"].astype(int)
        frame["median_us"] = frame["median_us"].astype(float)
    except (TypeError, ValueError):
        raise ValueError("benchmark rows: n must be an integer and median_us a number") from None
    frame["kind"] = frame["kind"].astype(str)
    return frame.sort_values(["implementation", "kind", "n"]).reset_index(drop=True)


def _extra_columns(rows: list[dict]) -> list[str]:
    return [c for c in ("peak_bytes", "name", "capacity") if any(c in row for row in rows)]


def benchmark_curves(frame: pd.DataFrame, value: str = "median_us") -> hv.Layout | hv.Overlay:
    """Time per step (or ``value``) against N, log-log, one curve per kind; adseq 0.9.4's
    figures (``implementation == "adseq"``) in a second panel beside adseq-lab's, same axes."""
    hv = _holoviews()
    ylabel = {"median_us": "time per step (µs)", "peak_bytes": "peak memory (bytes)"}.get(
        value, value
    )
    xdim = hv.Dimension("n", label="N (queues)")
    ydim = hv.Dimension(value, label=ylabel)
    implementations = set(frame["implementation"]) if len(frame) else set()
    width = WIDTH if "adseq" not in implementations else 8 * WIDTH // 10
    kinds = sorted(set(frame["kind"])) if len(frame) else []
    colors = {kind: PALETTE[i % len(PALETTE)] for i, kind in enumerate(kinds)}
    sizes = sorted(set(frame["n"])) if len(frame) else []
    values = frame[value][frame[value] > 0] if len(frame) else frame
    ylim = (values.min() / 1.3, values.max() * 1.3) if len(values) else (None, None)
    panels = []
    for implementation, title in (("adseq_lab", "adseq-lab"), ("adseq", "adseq 0.9.4")):
        part = frame[frame["implementation"] == implementation] if len(frame) else frame
        if implementation == "adseq" and not len(part):
            continue
        layers = [hv.Curve([], xdim, ydim)]
        for kind, rows in part.groupby("kind", sort=True) if len(part) else ():
            data = rows.sort_values("n")[["n", value]]
            style = dict(color=colors[kind], tools=["hover"])
            layers.append(hv.Curve(data, xdim, ydim, label=kind).opts(**style))
            layers.append(hv.Scatter(data, xdim, ydim, label=kind).opts(size=7, **style))
        panels.append(
            hv.Overlay(layers).opts(
                title=f"{title}: {ylabel}",
                logx=True,
                logy=True,
                xticks=[(n, f"{n:,}") for n in sizes] or None,
                ylim=ylim,  # one scale for both panels, so they compare by eye
                padding=(0.1, 0),
                width=width,
                height=HEIGHT,
                legend_position="right",
                show_grid=True,
            )
        )
    if len(panels) == 1:
        return panels[0]
    return hv.Layout(panels).cols(2)


SWEEP_PLOTTED = (
    ("us_per_step", "time per step (µs)", "Time per step"),
    ("dropped", "dropped events", "Dropped events"),
    ("spikes", "spikes", "Spikes"),
    ("peak_bytes", "peak memory (bytes)", "Peak memory (XLA)"),
)
"""``(column, axis label, title)`` of each plot against the number of neurons."""
SWEEP_SERIES_EXCLUDED = {"queue", "capacity", "arrangement", "history", "n_neurons", "seed"}
"""Settings that are not named in legend labels (the kind's own, the x axis, averaged over)."""


def _sweep_series(frame: pd.DataFrame) -> pd.Series:
    """One legend label per row: the queue kind (capacity in brackets, or the per-neuron
    history) and every other setting that varies in the sweep, apart from size and seed."""
    import pandas as pd

    from .sweep import DEFAULTS

    varying = [
        c
        for c in DEFAULTS
        if c in frame and c not in SWEEP_SERIES_EXCLUDED and frame[c].nunique(dropna=False) > 1
    ]
    delays = {"delay_ms", "max_delay_ms"} <= set(varying)
    if delays and (frame["max_delay_ms"] == 2 * frame["delay_ms"]).all():
        varying.remove("max_delay_ms")  # the default reach follows the mean delay

    def label(row: pd.Series) -> str:
        if row.get("arrangement") == "per_neuron":
            text = f"per_neuron[h={row['history']}]"
        else:
            has_capacity = pd.notna(row.get("capacity"))
            text = f"{row['queue']}[{int(row['capacity'])}]" if has_capacity else str(row["queue"])
        return " ".join([text] + [f"{c}={row[c]}" for c in varying])

    return frame.apply(label, axis=1) if len(frame) else pd.Series([], dtype=str)


def sweep_curves(frame: pd.DataFrame) -> hv.Layout:
    """Time per step, dropped events, spikes and peak memory against the number of neurons, one
    curve per queue kind (and other varied setting), averaged over seeds."""
    hv = _holoviews()
    import pandas as pd

    labels = _sweep_series(frame)
    colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sorted(set(labels)))}
    xdim = hv.Dimension("n_neurons", label="neurons")
    panels = []
    for column, ylabel, title in SWEEP_PLOTTED:
        ydim = hv.Dimension(column, label=ylabel)
        layers = [hv.Curve([], xdim, ydim)]
        if len(frame) and column in frame:
            values = pd.DataFrame(
                {
                    "series": labels,
                    "n_neurons": frame["n_neurons"].astype(int),
                    column: pd.to_numeric(frame[column], errors="coerce"),
                }
            ).dropna()
            means = values.groupby(["series", "n_neurons"], sort=True)[column].mean()
            for series, part in means.groupby(level="series"):
                data = (part.index.get_level_values("n_neurons"), part.to_numpy(np.float64))
                color = colors[series]
                layers.append(hv.Curve(data, xdim, ydim, label=series).opts(color=color))
                layers.append(
                    hv.Scatter(data, xdim, ydim, label=series).opts(
                        color=color, size=6, tools=["hover"]
                    )
                )
        panels.append(
            hv.Overlay(layers).opts(
                title=title,
                width=WIDTH * 3 // 4,
                height=HEIGHT * 3 // 4,
                show_grid=True,
                legend_position="right" if column == "us_per_step" else "top_left",
                show_legend=column == "us_per_step",
            )
        )
    return hv.Layout(panels).cols(2)
