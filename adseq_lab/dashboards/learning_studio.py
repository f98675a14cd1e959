"""Delay-learning studio: train delays on a task and watch the loss, delays, gradients and the
network's spikes live.

Training is the task's own entry point (:func:`adseq_lab.tasks.spike_timing.spike_timing`,
:func:`adseq_lab.tasks.delay_recovery.delay_recovery`,
:func:`adseq_lab.tasks.yinyang.train_yinyang`), which runs :func:`adseq_lab.train.fit` and calls
back after every step with the step, loss, raw (unbounded) parameters and their gradients. The
studio runs the entry point in a worker thread; the callback only records (the shown delays,
gradient sizes, and every ``UPDATE_S`` seconds the task's spike raster for the current
parameters, computed by the library's raster function) and returns ``False`` once Stop was
pressed. The plots are redrawn from the event loop every ``UPDATE_S`` seconds (less often while
a redraw is slow), so the page never freezes and Bokeh is only touched from its own thread.
The shown delays, the recorded history and the per-epoch metrics are saved and loaded with
:func:`adseq_lab.train.save_checkpoint` / :func:`adseq_lab.train.load_checkpoint`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import io
import math
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax
import panel as pn
import param

from .. import plotting
from ..tasks.delay_recovery import delay_recovery, delay_recovery_raster
from ..tasks.raster import Raster
from ..tasks.spike_timing import spike_timing, spike_timing_raster
from ..tasks.yinyang import YinYangConfig, train_yinyang, yinyang_raster
from ..tasks.yinyang_data import CLASS_NAMES, YinYangSplits, yinyang_splits
from ..train import MODES, Callback, Mode, bounded_delay, load_checkpoint, save_checkpoint
from .common import Messages, on_session_end

__all__ = ["Controls", "LearningStudio", "StudioRun", "StudioTask", "TASKS", "TrainingHistory"]

UPDATE_S = 0.3
PLOT_WIDTH = 540
MAX_DELAYS_SHOWN = 24
MAX_POINTS_SHOWN = 400
"""Longer histories are plotted at evenly spread steps (the last always), so a redraw stays
cheap however long training runs."""
OPTIMIZERS: dict[str, Callable[[float], optax.GradientTransformation]] = {
    "adam": optax.adam,
    "sgd": optax.sgd,
}

MetricsCallback = Callable[[int, dict[str, float]], None]


@dataclasses.dataclass(frozen=True)
class Controls:
    """What the page sets for one run: ``steps`` (optimiser steps), ``mode``, ``optimizer``
    (built from the chosen kind and learning rate), ``target_ms`` (spike timing) and ``seed``
    (delay recovery's draws, Yin-Yang's initial parameters and batch order)."""

    steps: int
    mode: Mode
    optimizer: optax.GradientTransformation
    learning_rate: float
    target_ms: float
    seed: int


@dataclasses.dataclass(frozen=True)
class StudioRun:
    """One prepared run of a library task.

    ``train(callback, on_metrics)`` calls the task's entry point with ``callback(step, loss,
    raw_params, grads)`` after every step (``False`` stops) and ``on_metrics(step, {name:
    value})`` where the task evaluates (Yin-Yang: per epoch), and returns its result;
    ``delays(raw_params)``: the shown delays (ms) ``(len(labels),)``; ``raster(raw_params)``: the
    library's spike raster of one example, ``raster_title`` what it shows; ``summary(result)``:
    one line on the finished run.
    """

    train: Callable[[Callback, MetricsCallback], Any]
    delays: Callable[[Any], np.ndarray]
    raster: Callable[[Any], Raster]
    raster_title: str
    summary: Callable[[Any], str]


@dataclasses.dataclass(frozen=True)
class StudioTask:
    """A library task as the studio offers it: ``prepare(controls)`` builds the run (small
    sizes for a live page), ``labels`` name the shown delays, ``mode`` and ``learning_rate`` are
    suggested when the task is chosen."""

    prepare: Callable[[Controls], StudioRun]
    labels: tuple[str, ...]
    mode: Mode
    learning_rate: float


# ---- spike timing ---------------------------------------------------------------------------
SPIKE_TIMING = dict(input_ms=(1.0, 1.5, 2.0), max_delay_ms=6.0)


def _spike_timing(c: Controls) -> StudioRun:
    def delays(raw: Any) -> np.ndarray:
        return np.asarray(bounded_delay(raw, SPIKE_TIMING["max_delay_ms"]))

    return StudioRun(
        train=lambda callback, on_metrics: spike_timing(
            c.target_ms,
            **SPIKE_TIMING,
            steps=c.steps,
            learning_rate=c.learning_rate,
            mode=c.mode,
            optimizer=c.optimizer,
            callback=callback,
            every=1,
        ),
        delays=delays,
        raster=lambda raw: spike_timing_raster(delays(raw), **SPIKE_TIMING),
        raster_title="the inputs and the neuron",
        summary=lambda r: f"first spike {r.first_spike_ms:.2f} ms (target {r.target_ms:g} ms)",
    )


# ---- delay recovery -------------------------------------------------------------------------
DELAY_RECOVERY = dict(
    n_inputs=4, n_outputs=3, trials=4, rate_hz=150.0, duration_ms=25.0, max_delay_ms=5.0
)  # 4 inputs drive the outputs only at a higher rate than the task's 40 Hz


def _delay_recovery(c: Controls) -> StudioRun:
    def delays(raw: Any) -> np.ndarray:
        return np.asarray(bounded_delay(raw, DELAY_RECOVERY["max_delay_ms"]))

    return StudioRun(
        train=lambda callback, on_metrics: delay_recovery(
            **DELAY_RECOVERY,
            steps=c.steps,
            learning_rate=c.learning_rate,
            mode=c.mode,
            optimizer=c.optimizer,
            seed=c.seed,
            callback=callback,
            every=1,
        ),
        delays=lambda raw: delays(raw).ravel(),
        raster=lambda raw: delay_recovery_raster(delays(raw), **DELAY_RECOVERY, seed=c.seed),
        raster_title="trial 0: inputs, teacher and student outputs",
        summary=lambda r: (
            f"mean delay error {r.mean_error_ms:.3f} ms after the teacher-forced refinement "
            f"(the plots end at the spike-train fit: "
            f"{r.fit_error_ms.mean():.3f} ms)"
        ),
    )


# ---- Yin-Yang -------------------------------------------------------------------------------
YINYANG = YinYangConfig(
    hidden=20,
    epochs=1,
    batch_size=20,
    train_size=200,
    validation_size=200,
    test_size=200,
    steps=120,
)
"""The live Yin-Yang run: 10 steps per epoch; ``epochs`` and ``seed`` come from the page."""
YINYANG_FEATURES = ("x", "y", "1-x", "1-y")
YINYANG_SHOWN = (2, 3, 2)
"""Delays shown (12, so the legend fits): inputs x and y onto the first 3 hidden neurons, the
first 2 hidden neurons onto each output."""


def _yinyang_labels() -> tuple[str, ...]:
    n_in, n_hidden, n_from = YINYANG_SHOWN
    first = [f"{YINYANG_FEATURES[i]}→h{j}" for i in range(n_in) for j in range(n_hidden)]
    second = [f"h{j}→{name}" for j in range(n_from) for name in CLASS_NAMES]
    return tuple(first + second)


@functools.cache
def _yinyang_data() -> YinYangSplits:
    return yinyang_splits(YINYANG.train_size, YINYANG.validation_size, YINYANG.test_size)


def _yinyang(c: Controls) -> StudioRun:
    per_epoch = YINYANG.train_size // YINYANG.batch_size
    config = dataclasses.replace(YINYANG, seed=c.seed, epochs=math.ceil(c.steps / per_epoch))
    data = _yinyang_data()
    example, label = data.validation.features[0], int(data.validation.labels[0])
    n_in, n_hidden, n_from = YINYANG_SHOWN

    def delays(params: Any) -> np.ndarray:
        first, second = (np.asarray(d) for d in config.model().delays(params))
        return np.concatenate([first[:n_in, :n_hidden].ravel(), second[:n_from].ravel()])

    def train(callback: Callback, on_metrics: MetricsCallback) -> Any:
        def until_steps(step: int, loss: float, params: Any, grads: Any) -> bool:
            return callback(step, loss, params, grads) is not False and step < c.steps

        def on_epoch(record: dict[str, float], params: Any) -> None:
            on_metrics(
                int(record["epoch"]) * per_epoch,
                {
                    "validation accuracy": record["validation_accuracy"],
                    "train accuracy": record["train_accuracy"],
                },
            )

        return train_yinyang(
            config,
            data=data,
            callback=until_steps,
            epoch_callback=on_epoch,
            mode=c.mode,
            optimizer=c.optimizer,
        )

    def summary(result: Any) -> str:
        if not result.epochs:
            return "no epoch finished: no validation or test accuracy yet"
        return (
            f"test accuracy {result.test_accuracy:.1%} with the parameters of epoch "
            f"{result.best_epoch} (validation {result.validation_accuracy:.1%})"
        )

    return StudioRun(
        train=train,
        delays=delays,
        raster=lambda params: yinyang_raster(params, example, config),
        raster_title=f"validation example 0 ({CLASS_NAMES[label]})",
        summary=summary,
    )


TASKS: dict[str, StudioTask] = {
    "spike timing": StudioTask(
        _spike_timing,
        ("input 0", "input 1", "input 2"),
        "forward",
        0.1,
    ),
    "delay recovery": StudioTask(
        _delay_recovery,
        tuple(
            f"{i}→{j}"
            for i in range(DELAY_RECOVERY["n_inputs"])
            for j in range(DELAY_RECOVERY["n_outputs"])
        ),
        "reverse",
        0.05,
    ),
    "yin-yang": StudioTask(
        _yinyang,
        _yinyang_labels(),
        "reverse",
        0.003,
    ),
}


class TrainingHistory:
    """What the training callback recorded, appended from the worker thread under a lock: one
    row per step, named metrics at the steps where the task evaluated, and the latest raster."""

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self._lock = threading.Lock()
        self._rows: list[tuple[int, float, np.ndarray, float, float]] = []
        self._metrics: dict[str, list[tuple[int, float]]] = {}
        self._raster: tuple[int, Raster] | None = None

    def record(self, step: int, loss: float, delays_ms: np.ndarray, grads: Any) -> None:
        leaves = [np.abs(np.asarray(g, np.float64)).ravel() for g in jax.tree.leaves(grads)]
        magnitudes = np.concatenate(leaves) if leaves else np.zeros(1)
        row = (
            int(step),
            float(loss),
            np.asarray(delays_ms, np.float32).ravel(),
            float(np.sqrt(np.sum(magnitudes**2))),
            float(magnitudes.max()),
        )
        with self._lock:
            self._rows.append(row)

    def record_metrics(self, step: int, values: dict[str, float]) -> None:
        with self._lock:
            for name, value in values.items():
                self._metrics.setdefault(name, []).append((int(step), float(value)))

    def record_raster(self, step: int, raster: Raster) -> None:
        with self._lock:
            self._raster = (int(step), raster)

    @property
    def raster(self) -> tuple[int, Raster] | None:
        """``(step, raster)`` of the latest raster, or ``None``."""
        with self._lock:
            return self._raster

    def metrics(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{name: (steps, values)}``."""
        with self._lock:
            items = {name: list(points) for name, points in self._metrics.items()}
        return {
            name: (np.array([p[0] for p in points], np.int64), np.array([p[1] for p in points]))
            for name, points in items.items()
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """``step``, ``loss``, ``grad_norm``, ``grad_max`` ``(S,)`` and ``delays_ms`` ``(S, d)``."""
        with self._lock:
            rows = list(self._rows)
        width = len(self.labels)
        return {
            "step": np.array([r[0] for r in rows], np.int64),
            "loss": np.array([r[1] for r in rows], np.float32),
            "delays_ms": np.array([r[2] for r in rows], np.float32).reshape(len(rows), width),
            "grad_norm": np.array([r[3] for r in rows], np.float64),
            "grad_max": np.array([r[4] for r in rows], np.float64),
        }

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    @classmethod
    def from_arrays(
        cls,
        labels: tuple[str, ...],
        data: dict[str, Any],
        metrics: dict[str, list[list[float]]] | None = None,
    ) -> TrainingHistory:
        history = cls(labels)
        for step, loss, delays, norm, peak in zip(
            data["step"],
            data["loss"],
            data["delays_ms"],
            data["grad_norm"],
            data["grad_max"],
            strict=True,
        ):
            history._rows.append(
                (int(step), float(loss), np.asarray(delays, np.float32), float(norm), float(peak))
            )
        for name, points in (metrics or {}).items():
            history._metrics[name] = [(int(step), float(value)) for step, value in points]
        return history


class LearningStudio(pn.viewable.Viewer):
    """Choose a task and how to train it; Start trains in a worker thread, Stop ends early."""

    task = param.Selector(default="spike timing", objects=list(TASKS), doc="Learning task")
    mode = param.Selector(default="forward", objects=list(MODES), doc="Gradient mode")
    optimizer = param.Selector(default="adam", objects=list(OPTIMIZERS), doc="Optimiser")
    learning_rate = param.Number(default=0.1, bounds=(1e-6, 10.0), doc="Learning rate")
    steps = param.Integer(default=100, bounds=(1, 10_000), doc="Training steps")
    target_ms = param.Number(default=6.0, bounds=(0.0, 100.0), doc="Spike timing: target (ms)")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Delay recovery, Yin-Yang: seed")
    done = param.Integer(default=0, doc="Steps trained")
    running = param.Boolean(default=False)

    def __init__(self, **params):
        suggested = TASKS[params.get("task", self.param.task.default)]
        params.setdefault("mode", suggested.mode)
        params.setdefault("learning_rate", suggested.learning_rate)
        super().__init__(**params)
        self.messages = Messages()
        self.history: TrainingHistory | None = None
        self.result: Any = None
        self.summary = ""
        self.final_delays_ms: np.ndarray | None = None
        self._stop = threading.Event()
        self._loss = pn.pane.HoloViews(sizing_mode="fixed")
        self._delays = pn.pane.HoloViews(sizing_mode="fixed")
        self._grads = pn.pane.HoloViews(sizing_mode="fixed")
        self._metrics = pn.pane.HoloViews(sizing_mode="fixed", visible=False)
        self._raster = pn.pane.HoloViews(sizing_mode="fixed", visible=False)
        self._raster_shown: tuple[int, Raster] | None = None
        self._raster_title = ""
        self._raster_note = pn.pane.Markdown("")
        self._status = pn.pane.Markdown("Not trained yet: press **Start**.")
        self._layout = self._build()
        on_session_end(self.stop)

    @param.depends("task", watch=True)
    def _suggest(self) -> None:
        """Choosing a task sets its suggested gradient mode and learning rate."""
        spec = TASKS[self.task]
        self.param.update(mode=spec.mode, learning_rate=spec.learning_rate)

    # ---- the library call, from the controls ------------------------------------------------
    def prepare(self) -> tuple[StudioTask, StudioRun]:
        """``(task, its run with the page's controls)``."""
        spec = TASKS[self.task]
        controls = Controls(
            steps=self.steps,
            mode=self.mode,
            optimizer=OPTIMIZERS[self.optimizer](self.learning_rate),
            learning_rate=self.learning_rate,
            target_ms=self.target_ms,
            seed=self.seed,
        )
        return spec, spec.prepare(controls)

    def _callback(self, run: StudioRun, history: TrainingHistory) -> Callback:
        """Records every step; the raster at the first and last step, on Stop and at most
        every ``UPDATE_S`` seconds in between."""
        last_raster, steps = [-math.inf], self.steps

        def record(step: int, loss: float, params: Any, grads: Any) -> bool:
            history.record(step, loss, run.delays(params), grads)
            stopping = self._stop.is_set()
            now = time.monotonic()
            due = step >= steps or stopping or now - last_raster[0] >= UPDATE_S
            if due:
                history.record_raster(step, run.raster(params))
                last_raster[0] = now
            return not stopping

        return record

    # ---- running ----------------------------------------------------------------------------
    async def start_async(self, event=None) -> None:
        """The Start button: train in a worker thread, redrawing every ``UPDATE_S`` seconds, or
        less often where a redraw is slow (the event loop stays free two thirds of the time)."""
        if self.running:
            return
        self.messages.clear()
        self._stop.clear()
        self.running = True
        self.done = 0
        try:
            ok, prepared = self.messages.guarded(self.prepare)
            if not ok:
                self._status.object = "Training refused (see the message above)."
                return
            spec, run = prepared
            history = TrainingHistory(spec.labels)
            self.history, self.result, self.final_delays_ms = history, None, None
            self.summary = ""
            self._raster_shown = None
            self._raster.visible = False
            self._raster_title = run.raster_title
            self._raster_note.object = ""
            callback = self._callback(run, history)
            self._status.object = "Compiling and training…"
            worker = asyncio.ensure_future(
                asyncio.to_thread(
                    self.messages.guarded, lambda: run.train(callback, history.record_metrics)
                )
            )
            pause_s = UPDATE_S
            while not worker.done():
                await asyncio.wait({worker}, timeout=pause_s)
                if len(history):
                    began = time.monotonic()
                    self._show()
                    pause_s = max(UPDATE_S, 2.0 * (time.monotonic() - began))
            ok, result = worker.result()
            if not ok:
                self._status.object = "Training failed (see the message above)."
                return
            self.result = result
            self.summary = run.summary(result)
            self.final_delays_ms = history.arrays()["delays_ms"][-1] if len(history) else None
            self._show()
            if self._stop.is_set() and len(history) < self.steps:
                self.messages.note(f"Stopped after {len(history)} of {self.steps} steps.")
        finally:
            self.running = False

    def stop(self, event=None) -> None:
        self._stop.set()

    # ---- save / load ------------------------------------------------------------------------
    def checkpoint_bytes(self) -> io.BytesIO:
        """The shown delays, the recorded history and metrics as a checkpoint file (``.npz``)."""
        if self.history is None or not len(self.history):
            raise ValueError("save: nothing trained yet; press Start first")
        data = self.history.arrays()
        metadata = {
            "task": self.task,
            "mode": self.mode,
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            **{k: v.tolist() for k, v in data.items()},
            "metrics": {
                name: np.stack([steps, values], axis=1).tolist()
                for name, (steps, values) in self.history.metrics().items()
            },
        }
        tree = {"delays_ms": data["delays_ms"][-1]}
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "studio.npz"
            save_checkpoint(path, tree, metadata)
            return io.BytesIO(path.read_bytes())

    def load_bytes(self, content: bytes) -> bool:
        """Restore a saved run of the selected task and show it; False (message shown) if the
        file is not a studio checkpoint of this task."""
        self.messages.clear()
        ok, _ = self.messages.guarded(lambda: self._load(content))
        return ok

    def _load(self, content: bytes) -> None:
        spec = TASKS[self.task]
        like = {"delays_ms": np.zeros(len(spec.labels), np.float32)}
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "studio.npz"
            path.write_bytes(content)
            tree, metadata = load_checkpoint(path, like=like)
        if metadata.get("task") != self.task:
            raise ValueError(
                f"load: the file holds a {metadata.get('task')!r} run; select that task first"
            )
        keys = ("step", "loss", "delays_ms", "grad_norm", "grad_max")
        self.history = TrainingHistory.from_arrays(
            spec.labels, {k: metadata[k] for k in keys}, metadata.get("metrics")
        )
        self.final_delays_ms = np.asarray(tree["delays_ms"])
        self.result, self.summary = None, ""
        self._raster_shown = None
        self._raster.visible = False
        self._raster_note.object = "Loaded runs hold no parameters: no spike raster."
        self._show()

    def _on_upload(self, event) -> None:
        if event.new:
            self.load_bytes(event.new)

    # ---- view -------------------------------------------------------------------------------
    def _show(self) -> None:
        data = self.history.arrays()
        if len(data["step"]) > MAX_POINTS_SHOWN:
            rows = np.linspace(0, len(data["step"]) - 1, MAX_POINTS_SHOWN).round().astype(int)
            data = {key: values[rows] for key, values in data.items()}
        steps = data["step"]
        shown = min(MAX_DELAYS_SHOWN, len(self.history.labels))
        self.done = int(steps[-1]) if len(steps) else 0
        self._loss.object = plotting.loss_curve(steps, data["loss"]).opts(width=PLOT_WIDTH)
        self._delays.object = plotting.delay_trajectories(
            steps, data["delays_ms"][:, :shown], list(self.history.labels[:shown])
        ).opts(width=PLOT_WIDTH)
        self._grads.object = plotting.curves(
            steps,
            {"‖grad‖₂": data["grad_norm"], "max |grad|": data["grad_max"]},
            "training step",
            "gradient magnitude",
            "Gradients (raw parameters)",
            logy=bool(np.all(data["grad_max"] > 0)),
        ).opts(width=PLOT_WIDTH)
        metrics = self.history.metrics()
        if metrics:
            self._metrics.object = self._metrics_plot(metrics)
            self._metrics.visible = True
        else:
            self._metrics.visible = False
        self._show_raster()
        if len(steps):
            delays = ", ".join(f"{d:.3f}" for d in data["delays_ms"][-1, :shown])
            more = " …" if shown < len(self.history.labels) else ""
            latest = "".join(f" · {name} {values[-1]:.1%}" for name, (_, values) in metrics.items())
            done = f"  \nDone: {self.summary}." if self.summary else ""
            self._status.object = (
                f"**Step {self.done}** of {self.steps} · loss {data['loss'][-1]:.4g}{latest} · "
                f"delays (ms) {delays}{more}{done}"
            )

    @staticmethod
    def _metrics_plot(metrics: dict[str, tuple[np.ndarray, np.ndarray]]):
        import holoviews as hv

        layers = [
            hv.Curve((steps, values), "training step", "accuracy", label=name)
            * hv.Scatter((steps, values), "training step", "accuracy", label=name).opts(size=5)
            for name, (steps, values) in metrics.items()
        ]
        return hv.Overlay(layers).opts(
            title="Accuracy (per epoch)",
            width=PLOT_WIDTH,
            height=plotting.HEIGHT * 4 // 5,
            ylim=(0, 1),
            legend_position="bottom_right",
            show_grid=True,
        )

    def _show_raster(self) -> None:
        latest = self.history.raster
        if latest is None or latest is self._raster_shown:
            return
        step, raster = latest
        # a constant title: the figure is updated in place, the step goes into the note
        self._raster.object = plotting.raster(
            raster.times_ms, raster.neurons, raster.n_neurons, raster.duration_ms
        ).opts(
            title=f"Spikes of {self._raster_title}",
            width=PLOT_WIDTH,
            ylabel=f"neuron ({raster.describe()})",
        )
        self._raster_note.object = (
            f"Raster after step {step}: {len(raster)} spikes of {self._raster_title}, "
            "with the parameters of that step."
        )
        self._raster.visible = True
        self._raster_shown = latest

    def _build(self) -> pn.viewable.Viewable:
        w = pn.widgets
        start = w.Button(
            label="Start",
            color="primary",
            css_classes=["start-button"],
            disabled=self.param.running,
        )
        stop = w.Button(label="■ Stop", color="warning")
        start.on_click(self.start_async)
        stop.on_click(self.stop)
        save = w.FileDownload(
            callback=self.checkpoint_bytes, filename="delay_learning.npz", label="Save state"
        )
        upload = w.FileInput(accept=".npz")
        upload.param.watch(self._on_upload, "value")
        progress = pn.indicators.Progress(value=self.param.done, max=self.param.steps, width=260)
        p = self.param
        controls = pn.Column(
            "### Task",
            w.Select.from_param(p.task, label="Task"),
            w.FloatInput.from_param(p.target_ms, label="Target spike time (ms)", step=0.5),
            w.IntInput.from_param(p.seed, label="Seed (delay recovery, Yin-Yang)"),
            "### Training",
            w.RadioButtonGroup.from_param(p.mode),
            w.Select.from_param(p.optimizer, label="Optimiser"),
            w.FloatInput.from_param(p.learning_rate, label="Learning rate", step=0.01),
            w.IntInput.from_param(p.steps, label="Steps"),
            pn.Row(start, stop),
            progress,
            "### State",
            save,
            pn.pane.Markdown("Load a saved state:"),
            upload,
            width=300,
        )
        main = pn.Column(
            pn.pane.Markdown(
                "## Delay-learning studio\nTrains synaptic delays with `adseq_lab.train.fit` "
                "through a task of `adseq_lab.tasks`; delays are bounded onto "
                "[0, max delay] and the gradients shown are those of the raw parameters. "
                "The raster shows the network's spikes for the current parameters."
            ),
            self.messages.pane,
            self._status,
            pn.Row(self._loss, self._delays),
            pn.Row(self._grads, self._metrics),
            self._raster_note,
            pn.Row(self._raster),
            sizing_mode="stretch_width",
        )
        return pn.Row(controls, main, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
