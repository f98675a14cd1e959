"""LearningStudio without a browser: its plots hold what the library's training reports, and
its raster the spikes the library's raster functions give for the parameters of that step."""

from __future__ import annotations

import asyncio
import threading

import holoviews as hv
import numpy as np
import pytest

from adseq_lab.dashboards import learning_studio
from adseq_lab.dashboards.apps import APPS
from adseq_lab.dashboards.learning_studio import LearningStudio
from adseq_lab.tasks.delay_recovery import delay_recovery_raster
from adseq_lab.tasks.spike_timing import spike_timing_raster


def curve(overlay: hv.Overlay, label: str) -> tuple[np.ndarray, np.ndarray]:
    (element,) = [e for e in overlay if e.label == label]
    return element.dimension_values(0), element.dimension_values(1)


def points(raster: hv.Points) -> tuple[np.ndarray, np.ndarray]:
    return raster.dimension_values("time"), raster.dimension_values("neuron")


def test_spike_timing_plots_the_library_run_then_saves_and_loads_it(monkeypatch):
    threads = []

    def raster_in_worker(*args, **kwargs):
        threads.append(threading.current_thread())
        return spike_timing_raster(*args, **kwargs)

    monkeypatch.setattr(learning_studio, "spike_timing_raster", raster_in_worker)
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
    assert "Done: first spike" in studio._status.object
    hv.render(studio._delays.object, backend="bokeh")

    # the raster: computed in the worker thread (first and last step at least), drawn after
    assert threads and threading.main_thread() not in threads and len(threads) <= 3
    step, raster = studio.history.raster
    expected = spike_timing_raster(result.delays_ms, input_ms=(1.0, 1.5, 2.0), max_delay_ms=6.0)
    assert step == 3 and studio._raster.visible
    np.testing.assert_array_equal(raster.times_ms, expected.times_ms)
    np.testing.assert_array_equal(raster.neurons, expected.neurons)
    times, neurons = points(studio._raster.object)
    np.testing.assert_allclose(times, expected.times_ms)
    np.testing.assert_array_equal(neurons, expected.neurons)
    assert studio._raster_note.object.startswith(f"Raster after step 3: {len(expected)} spikes")
    hv.render(studio._raster.object, backend="bokeh")

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
    step, raster = studio.history.raster
    assert step == 1 and studio._raster.visible
    expected = delay_recovery_raster(
        studio.result.learned_ms, **learning_studio.DELAY_RECOVERY, seed=studio.seed
    )
    np.testing.assert_array_equal(raster.neurons, expected.neurons)
    np.testing.assert_allclose(raster.times_ms, expected.times_ms)
    assert [name for name, _, _ in raster.groups] == ["inputs", "teacher", "student"]


def test_delay_recovery_reports_the_refined_error_and_the_fits():
    studio = LearningStudio(task="delay recovery", mode="reverse", steps=5, learning_rate=0.05)
    asyncio.run(studio.start_async())
    assert not studio.messages.text and not studio.running
    result = studio.result
    final = studio.history.arrays()["delays_ms"][-1]
    np.testing.assert_allclose(final, result.fitted_ms.ravel(), atol=1e-6)  # plots end at the fit
    assert not np.array_equal(result.learned_ms, result.fitted_ms)  # the refinement moved some
    fit_error = np.mean(np.abs(result.fitted_ms - result.hidden_ms))
    assert (
        f"mean delay error {result.mean_error_ms:.3f} ms after the teacher-forced refinement"
        f" (the plots end at the spike-train fit: {fit_error:.3f} ms)"
    ) in studio._status.object


def yinyang_shown(params) -> np.ndarray:
    """The 12 delays the studio shows for Yin-Yang: x, y onto h0..h2, then h0, h1 onto yang, yin,
    dots (row-major), read from the library's model."""
    first, second = (np.asarray(d) for d in learning_studio.YINYANG.model().delays(params))
    return np.concatenate([first[:2, :3].ravel(), second[:2, :3].ravel()])


def test_yinyang_trains_with_accuracy_and_raster_then_saves_and_loads(monkeypatch):
    rasters, library_raster = [], learning_studio.yinyang_raster

    def recorded(params, features, config):
        raster = library_raster(params, features, config)
        rasters.append((params, raster))
        return raster

    monkeypatch.setattr(learning_studio, "yinyang_raster", recorded)
    studio = LearningStudio(steps=12)
    studio.task = "yin-yang"  # choosing the task suggests its mode and learning rate
    assert (studio.mode, studio.learning_rate) == ("reverse", 0.003)
    asyncio.run(studio.start_async())
    assert not studio.messages.pane.visible, studio.messages.text
    result = studio.result  # 10 steps per epoch: epoch 1 evaluated, stopped at step 12
    assert len(studio.history) == 12 and studio.done == 12 and result.epochs == 1

    steps, loss = curve(studio._loss.object, "loss")
    np.testing.assert_array_equal(steps, np.arange(1, 13))
    assert np.mean(loss[:10]) == pytest.approx(result.history[0]["loss"], rel=1e-6)
    data = studio.history.arrays()
    assert data["delays_ms"].shape == (12, 12)
    np.testing.assert_allclose(data["delays_ms"][9], yinyang_shown(result.params), atol=1e-6)
    assert not np.array_equal(data["delays_ms"][0], data["delays_ms"][-1])  # delays learn
    trajectories = studio._delays.object
    first, second = learning_studio.YINYANG.model().delays(rasters[-1][0])
    assert curve(trajectories, "y→h2")[1][-1] == pytest.approx(float(first[1, 2]), abs=1e-6)
    assert curve(trajectories, "h1→dots")[1][-1] == pytest.approx(float(second[1, 2]), abs=1e-6)

    accuracy = result.history[0]["validation_accuracy"]
    assert studio._metrics.visible
    (line,) = [
        e
        for e in studio._metrics.object
        if isinstance(e, hv.Curve) and e.label == "validation accuracy"
    ]
    np.testing.assert_array_equal(line.dimension_values(0), [10])
    np.testing.assert_array_equal(line.dimension_values(1), [accuracy])
    assert f"validation accuracy {accuracy:.1%}" in studio._status.object
    assert "Done: test accuracy" in studio._status.object

    step, raster = studio.history.raster
    assert step == 12 and raster is rasters[-1][1] and len(raster)
    assert raster.groups == (("inputs", 0, 5), ("hidden", 5, 25), ("outputs", 25, 28))
    times, neurons = points(studio._raster.object)
    np.testing.assert_allclose(times, raster.times_ms)
    np.testing.assert_array_equal(neurons, raster.neurons)
    np.testing.assert_allclose(data["delays_ms"][-1], yinyang_shown(rasters[-1][0]), atol=1e-6)

    saved = studio.checkpoint_bytes().getvalue()
    fresh = LearningStudio(task="yin-yang")
    assert fresh.load_bytes(saved)
    for key, values in data.items():
        np.testing.assert_array_equal(fresh.history.arrays()[key], values)
    np.testing.assert_array_equal(fresh.final_delays_ms, data["delays_ms"][-1])
    assert fresh.history.metrics()["validation accuracy"][1].tolist() == [accuracy]
    assert fresh._metrics.visible and not fresh._raster.visible
    assert not LearningStudio(task="spike timing").load_bytes(saved)


def test_stop_ends_yinyang_early_in_forward_mode_with_sgd(monkeypatch):
    studio = LearningStudio(task="yin-yang", mode="forward", optimizer="sgd", steps=40)
    original = learning_studio.TrainingHistory.record

    def record_then_stop(history, *args):
        original(history, *args)
        studio.stop()

    monkeypatch.setattr(learning_studio.TrainingHistory, "record", record_then_stop)
    asyncio.run(studio.start_async())
    assert "Stopped after 1 of 40 steps" in studio.messages.text and not studio.running
    assert studio.result.stopped and studio.result.epochs == 0 and len(studio.history) == 1
    assert "no epoch finished" in studio._status.object and not studio._metrics.visible
    assert studio.history.raster[0] == 1 and studio._raster.visible  # the raster at Stop


def test_refused_input_shows_the_message():
    change, needle = dict(task="spike timing", target_ms=50.0), "target_ms must lie in"
    studio = LearningStudio(steps=2, **change)
    asyncio.run(studio.start_async())
    assert studio.messages.pane.visible and needle in studio.messages.text
    assert studio.result is None and not studio.running
    with pytest.raises(ValueError, match="nothing trained"):
        LearningStudio().checkpoint_bytes()


@pytest.mark.parametrize("task", [t for t in learning_studio.TASKS if t != "yin-yang"])
def test_every_task_trains_in_forward_mode_with_sgd(task):
    # Yin-Yang in forward mode with SGD: test_stop_ends_yinyang_early_in_forward_mode_with_sgd
    studio = LearningStudio(task=task, mode="forward", optimizer="sgd", steps=2)
    asyncio.run(studio.start_async())
    assert not studio.messages.pane.visible, studio.messages.text
    assert studio.result.steps == 2 and len(studio.history) == 2


def test_registered_as_a_served_app():
    assert "learning_studio" in [app.slug for app in APPS]


def test_long_histories_are_plotted_at_spread_steps_with_the_last():
    labels = learning_studio.TASKS["spike timing"].labels
    count = 3 * learning_studio.MAX_POINTS_SHOWN + 7
    steps = np.arange(1, count + 1)
    data = {
        "step": steps,
        "loss": 1.0 / steps,
        "delays_ms": np.outer(steps, [1.0, 2.0, 3.0]) * 1e-3,
        "grad_norm": np.ones(count),
        "grad_max": np.ones(count),
    }
    studio = LearningStudio(task="spike timing", steps=count)
    studio.history = learning_studio.TrainingHistory.from_arrays(labels, data)
    studio._show()
    shown, loss = curve(studio._loss.object, "loss")
    assert len(shown) == learning_studio.MAX_POINTS_SHOWN and shown[0] == 1 and shown[-1] == count
    assert np.all(np.diff(shown) >= 2)
    np.testing.assert_allclose(loss, 1.0 / shown, rtol=1e-6)
    np.testing.assert_allclose(curve(studio._delays.object, "input 2")[1], shown * 3e-3, rtol=1e-6)
    assert f"**Step {count}** of {count}" in studio._status.object
