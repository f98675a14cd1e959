"""LearningStudio without a browser: its plots hold what the library's training reports."""

from __future__ import annotations

import asyncio

import holoviews as hv
import numpy as np
import pytest

from adseq_lab.dashboards import learning_studio
from adseq_lab.dashboards.apps import APPS
from adseq_lab.dashboards.learning_studio import LearningStudio


def curve(overlay: hv.Overlay, label: str) -> tuple[np.ndarray, np.ndarray]:
    (element,) = [e for e in overlay if e.label == label]
    return element.dimension_values(0), element.dimension_values(1)


def test_spike_timing_plots_the_library_run_then_saves_and_loads_it():
    studio = LearningStudio(task="spike timing", mode="forward", steps=3, target_ms=4.0)
    asyncio.run(studio.start_async())
    assert not studio.messages.text and not studio.running
    result = studio.result
    assert result.steps == 3 and studio.done == 3

    steps, loss = curve(studio._loss.object, "loss")
    np.testing.assert_array_equal(steps, [1, 2, 3])
    np.testing.assert_array_equal(loss, result.losses)
    assert loss[-1] < loss[0]  # Adam moves the delays towards the target
    trajectories = studio._delays.object
    for i, final in enumerate(result.delays_ms):
        steps, delay = curve(trajectories, f"input {i}")
        np.testing.assert_array_equal(steps, [1, 2, 3])
        assert delay[-1] == pytest.approx(final, abs=1e-6)
    _, norm = curve(studio._grads.object, "‖grad‖₂")
    assert len(norm) == 3 and np.all(norm > 0)
    assert "**Step 3** of 3" in studio._status.object
    hv.render(studio._delays.object, backend="bokeh")

    saved = studio.checkpoint_bytes().getvalue()
    fresh = LearningStudio(task="spike timing")
    assert fresh.load_bytes(saved)
    np.testing.assert_array_equal(fresh.final_delays_ms, studio.final_delays_ms)
    np.testing.assert_array_equal(curve(fresh._loss.object, "loss")[1], result.losses)
    other = LearningStudio(task="delay recovery")
    assert not other.load_bytes(saved)
    assert "does not match" in other.messages.text or "select that task" in other.messages.text


def test_stop_ends_delay_recovery_early(monkeypatch):
    studio = LearningStudio(task="delay recovery", mode="reverse", steps=40, learning_rate=0.05)
    original = learning_studio.TrainingHistory.record

    def record_then_stop(history, *args):
        original(history, *args)
        studio.stop()  # the user presses Stop during the first step

    monkeypatch.setattr(learning_studio.TrainingHistory, "record", record_then_stop)
    asyncio.run(studio.start_async())
    assert studio.result.steps == 1 and len(studio.result.losses) == 1
    assert "Stopped after 1 of 40 steps" in studio.messages.text and not studio.running
    steps, loss = curve(studio._loss.object, "loss")
    np.testing.assert_array_equal(loss, studio.result.losses)
    trajectories = studio._delays.object
    learned = studio.result.learned_ms.ravel()
    for label, final in zip(studio.history.labels, learned, strict=True):
        assert curve(trajectories, label)[1][-1] == pytest.approx(final, abs=1e-6)


def test_refused_input_shows_the_message():
    change, needle = dict(task="spike timing", target_ms=50.0), "target_ms must lie in"
    studio = LearningStudio(steps=2, **change)
    asyncio.run(studio.start_async())
    assert studio.messages.pane.visible and needle in studio.messages.text
    assert studio.result is None and not studio.running
    with pytest.raises(ValueError, match="nothing trained"):
        LearningStudio().checkpoint_bytes()


@pytest.mark.parametrize("task", list(learning_studio.TASKS))
def test_every_task_trains_in_forward_mode_with_sgd(task):
    studio = LearningStudio(task=task, mode="forward", optimizer="sgd", steps=2)
    asyncio.run(studio.start_async())
    assert not studio.messages.pane.visible, studio.messages.text
    assert studio.result.steps == 2 and len(studio.history) == 2


def test_registered_as_a_served_app():
    assert "learning_studio" in [app.slug for app in APPS]
