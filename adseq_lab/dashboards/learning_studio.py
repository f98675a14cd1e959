"""Delay-learning studio: train delays on a task and watch the loss, delays and gradients live.

Training is the task's own entry point (:func:`adseq_lab.tasks.spike_timing.spike_timing`,
:func:`adseq_lab.tasks.delay_recovery.delay_recovery`), which runs
:func:`adseq_lab.train.fit` and calls back after every step with the step, loss, raw
(unbounded) parameters and their gradients. The studio runs the entry point in a worker thread;
the callback only records (delays via :func:`adseq_lab.train.bounded_delay`, gradient sizes)
and returns ``False`` once Stop was pressed. The plots are redrawn from the event loop every
``UPDATE_S`` seconds, so the page never freezes and Bokeh is only touched from its own thread.
The final delays and the recorded history are saved and loaded with
:func:`adseq_lab.train.save_checkpoint` / :func:`adseq_lab.train.load_checkpoint`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax
import panel as pn
import param

from .. import plotting
from ..tasks.delay_recovery import delay_recovery
from ..tasks.spike_timing import spike_timing
from ..train import MODES, bounded_delay, load_checkpoint, save_checkpoint
from .common import Messages, on_session_end

__all__ = ["LearningStudio", "StudioTask", "TASKS", "TrainingHistory"]

UPDATE_S = 0.3
PLOT_WIDTH = 540
MAX_DELAYS_SHOWN = 24
OPTIMIZERS: dict[str, Callable[[float], optax.GradientTransformation]] = {
    "adam": optax.adam,
    "sgd": optax.sgd,
}


@dataclasses.dataclass(frozen=True)
class StudioTask:
    """A library task as the studio runs it: its ``entry`` point, the fixed keyword arguments
    (small sizes for a live page), ``max_delay_ms`` (to read the bounded delays from the raw
    parameters) and one label per delay, in the order of the flattened delays."""

    entry: Callable[..., Any]
    settings: dict[str, Any]
    max_delay_ms: float
    labels: tuple[str, ...]


def _recovery_labels(n_inputs: int, n_outputs: int) -> tuple[str, ...]:
    return tuple(f"{i}→{j}" for i in range(n_inputs) for j in range(n_outputs))


TASKS: dict[str, StudioTask] = {
    "spike timing": StudioTask(
        spike_timing,
        dict(input_ms=(1.0, 1.5, 2.0), max_delay_ms=6.0),
        6.0,
        ("input 0", "input 1", "input 2"),
    ),
    "delay recovery": StudioTask(
        delay_recovery,
        dict(n_inputs=4, n_outputs=3, trials=4, duration_ms=25.0, max_delay_ms=5.0),
        5.0,
        _recovery_labels(4, 3),
    ),
}


class TrainingHistory:
    """What the training callback recorded, appended from the worker thread under a lock."""

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self._lock = threading.Lock()
        self._rows: list[tuple[int, float, np.ndarray, float, float]] = []

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
    def from_arrays(cls, labels: tuple[str, ...], data: dict[str, Any]) -> TrainingHistory:
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
        return history


class LearningStudio(pn.viewable.Viewer):
    """Choose a task and how to train it; Start trains in a worker thread, Stop ends early."""

    task = param.Selector(default="spike timing", objects=list(TASKS), doc="Learning task")
    mode = param.Selector(default="forward", objects=list(MODES), doc="Gradient mode")
    optimizer = param.Selector(default="adam", objects=list(OPTIMIZERS), doc="Optimiser")
    learning_rate = param.Number(default=0.1, bounds=(1e-6, 10.0), doc="Learning rate")
    steps = param.Integer(default=100, bounds=(1, 10_000), doc="Training steps")
    target_ms = param.Number(default=6.0, bounds=(0.0, 100.0), doc="Spike timing: target (ms)")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Delay recovery: seed")
    done = param.Integer(default=0, doc="Steps trained")
    running = param.Boolean(default=False)

    def __init__(self, **params):
        super().__init__(**params)
        self.messages = Messages()
        self.history: TrainingHistory | None = None
        self.result: Any = None
        self.final_delays_ms: np.ndarray | None = None
        self._stop = threading.Event()
        self._loss = pn.pane.HoloViews(sizing_mode="fixed")
        self._delays = pn.pane.HoloViews(sizing_mode="fixed")
        self._grads = pn.pane.HoloViews(sizing_mode="fixed")
        self._status = pn.pane.Markdown("Not trained yet: press **Start**.")
        self._layout = self._build()
        on_session_end(self.stop)

    # ---- the library call, from the controls ------------------------------------------------
    def training(self) -> tuple[StudioTask, dict[str, Any]]:
        """``(task, keyword arguments of its entry point)``."""
        spec = TASKS[self.task]
        kwargs = dict(
            spec.settings,
            steps=self.steps,
            learning_rate=self.learning_rate,
            mode=self.mode,
            optimizer=OPTIMIZERS[self.optimizer](self.learning_rate),
        )
        if self.task == "spike timing":
            kwargs["target_ms"] = self.target_ms
        else:
            kwargs["seed"] = self.seed
        return spec, kwargs

    def _callback(self, spec: StudioTask, history: TrainingHistory):
        def record(step: int, loss: float, params: Any, grads: Any) -> bool:
            history.record(step, loss, bounded_delay(params, spec.max_delay_ms), grads)
            return not self._stop.is_set()

        return record

    # ---- running ----------------------------------------------------------------------------
    async def start_async(self, event=None) -> None:
        """The Start button: train in a worker thread, redrawing every ``UPDATE_S`` seconds."""
        if self.running:
            return
        self.messages.clear()
        self._stop.clear()
        self.running = True
        self.done = 0
        try:
            ok, prepared = self.messages.guarded(self.training)
            if not ok:
                self._status.object = "Training refused (see the message above)."
                return
            spec, kwargs = prepared
            history = TrainingHistory(spec.labels)
            self.history, self.result, self.final_delays_ms = history, None, None
            callback = self._callback(spec, history)
            self._status.object = "Compiling and training…"
            worker = asyncio.ensure_future(
                asyncio.to_thread(
                    self.messages.guarded,
                    lambda: spec.entry(**kwargs, callback=callback, every=1),
                )
            )
            while not worker.done():
                await asyncio.wait({worker}, timeout=UPDATE_S)
                if len(history):
                    self._show()
            ok, result = worker.result()
            if not ok:
                self._status.object = "Training failed (see the message above)."
                return
            self.result = result
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
        """The final delays and the recorded history as a checkpoint file (``.npz``)."""
        if self.history is None or not len(self.history):
            raise ValueError("save: nothing trained yet; press Start first")
        data = self.history.arrays()
        metadata = {
            "task": self.task,
            "mode": self.mode,
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            **{k: v.tolist() for k, v in data.items()},
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
        self.history = TrainingHistory.from_arrays(spec.labels, {k: metadata[k] for k in keys})
        self.final_delays_ms = np.asarray(tree["delays_ms"])
        self.result = None
        self._show()

    def _on_upload(self, event) -> None:
        if event.new:
            self.load_bytes(event.new)

    # ---- view -------------------------------------------------------------------------------
    def _show(self) -> None:
        data = self.history.arrays()
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
            "Gradients (raw delay parameters)",
            logy=bool(np.all(data["grad_max"] > 0)),
        ).opts(width=PLOT_WIDTH)
        if len(steps):
            delays = ", ".join(f"{d:.3f}" for d in data["delays_ms"][-1, :shown])
            more = " …" if shown < len(self.history.labels) else ""
            self._status.object = (
                f"**Step {self.done}** of {self.steps} · loss {data['loss'][-1]:.4g} · "
                f"delays (ms) {delays}{more}"
            )

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
            w.IntInput.from_param(p.seed, label="Seed (delay recovery)"),
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
                "[0, max delay] and the gradients shown are those of the raw parameters."
            ),
            self.messages.pane,
            self._status,
            pn.Row(self._loss, self._delays),
            pn.Row(self._grads),
            sizing_mode="stretch_width",
        )
        return pn.Row(controls, main, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
