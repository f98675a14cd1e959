"""Yin-Yang: the data set against its definition, the encoding, the model's gradients, a tiny
training run, and the ``adseq-lab yinyang`` command."""

from __future__ import annotations

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adseq_lab import cli
from adseq_lab.tasks import yinyang as yy
from adseq_lab.tasks.yinyang_data import (
    CLASS_NAMES,
    yinyang,
    yinyang_class,
    yinyang_splits,
)

DATA = yinyang(3000, seed=42)


def test_dataset_is_deterministic_per_seed_and_seeds_differ():
    again = yinyang(3000, seed=42)
    np.testing.assert_array_equal(DATA.features, again.features)
    np.testing.assert_array_equal(DATA.labels, again.labels)
    other = yinyang(3000, seed=41)
    assert not np.array_equal(DATA.features, other.features)
    # a prefix does not depend on the size: the draws come in sample order
    np.testing.assert_array_equal(yinyang(100, seed=42).features, DATA.features[:100])


def test_default_splits_are_the_reference_sizes_and_seeds():
    splits = yinyang_splits(300, 100, 100)
    np.testing.assert_array_equal(splits.train.features, DATA.features[:300])
    np.testing.assert_array_equal(splits.validation.features, yinyang(100, 41).features)
    np.testing.assert_array_equal(splits.test.features, yinyang(100, 40).features)
    with pytest.raises(ValueError, match="seeds"):
        yinyang_splits(10, 10, 10, seeds=(1, 1, 2))


def test_features_are_points_in_the_disc_and_their_mirrors():
    x, y, x_mirror, y_mirror = DATA.features.T
    np.testing.assert_allclose(x + x_mirror, 1.0, atol=1e-6)
    np.testing.assert_allclose(y + y_mirror, 1.0, atol=1e-6)
    assert DATA.features.dtype == np.float32 and DATA.labels.dtype == np.int32
    assert np.all(np.hypot(x - 0.5, y - 0.5) <= 0.5 + 1e-6)
    assert np.all((DATA.features >= 0) & (DATA.features <= 1))


def test_classes_are_balanced_by_rejection_sampling():
    counts = np.bincount(DATA.labels, minlength=3)
    # one uniform goal class per sample: binomial(3000, 1/3), std about 26
    assert np.all(np.abs(counts - 1000) < 100), counts
    assert len(CLASS_NAMES) == 3


def test_labels_follow_the_definition():
    x, y = DATA.features[:, 0].astype(float), DATA.features[:, 1].astype(float)
    d_right = np.hypot(x - 0.75, y - 0.5)
    d_left = np.hypot(x - 0.25, y - 0.5)
    dots = (d_right < 0.1) | (d_left < 0.1)
    np.testing.assert_array_equal(DATA.labels == 2, dots)
    yin = ((d_left > 0.1) & (d_left <= 0.25)) | ((y > 0.5) & (d_right > 0.25))
    np.testing.assert_array_equal(DATA.labels[~dots] == 1, yin[~dots])


def test_the_figure_is_point_symmetric():
    """Reflection through the centre swaps yin and yang and keeps the dots."""
    rng = np.random.default_rng(0)
    swapped = {0: 1, 1: 0, 2: 2}
    checked = 0
    for x, y in rng.uniform(0, 1, (4000, 2)):
        if math.hypot(x - 0.5, y - 0.5) > 0.5:
            continue
        d = [math.hypot(x - cx, y - 0.5) for cx in (0.25, 0.75)]
        if min(abs(v - r) for v in d for r in (0.1, 0.25)) < 1e-9 or abs(y - 0.5) < 1e-9:
            continue  # on a boundary
        assert yinyang_class(1 - x, 1 - y) == swapped[yinyang_class(x, y)]
        checked += 1
    assert checked > 2500


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=0, seed=1), "size"),
        (dict(size=5, seed=1, r_small=0.3), "r_small"),
        (dict(size=5, seed=1, r_big=-1.0), "r_big"),
    ],
)
def test_dataset_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        yinyang(**kwargs)


TINY = yy.YinYangConfig(
    hidden=30,
    epochs=3,
    batch_size=20,
    train_size=200,
    validation_size=100,
    test_size=100,
    steps=160,
)


def test_encoding_puts_one_spike_per_input_on_the_grid():
    features = jnp.array([0.0, 0.37, 1.0, 0.63])
    table = np.asarray(yy.encode(features, TINY))
    assert table.shape == (160, 5)
    steps, inputs = np.nonzero(table >= 0)
    assert sorted(inputs) == [0, 1, 2, 3, 4]
    times = table[steps, inputs]
    np.testing.assert_allclose(times, steps * TINY.dt_ms, rtol=1e-6)
    expected = [0.0, 0.37 * 3.0, 3.0 + TINY.dt_ms / 2, 0.63 * 3.0 + TINY.dt_ms / 2, 0.0]
    for i, t in zip(inputs, times, strict=True):
        assert abs(t - expected[i]) <= TINY.dt_ms / 2 + 1e-6


def test_config_rejects_inputs_outside_the_window():
    with pytest.raises(ValueError, match="steps"):
        dataclasses.replace(TINY, steps=50)
    with pytest.raises(ValueError, match="batch_size"):
        dataclasses.replace(TINY, batch_size=500)


def test_model_gradients_are_finite_and_forward_equals_reverse():
    params = TINY.init(jax.random.key(0))
    example = (jnp.asarray(DATA.features[0]), jnp.asarray(DATA.labels[0]))

    def loss(p):
        return yy.example_loss(p, example, TINY)[0]

    tangent = jax.tree.map(lambda x: jax.random.normal(jax.random.key(1), x.shape), params)
    _, forward = jax.jit(lambda p, t: jax.jvp(loss, (p,), (t,)))(params, tangent)
    grad = jax.jit(jax.grad(loss))(params)
    reverse = sum(
        jnp.vdot(g, t) for g, t in zip(jax.tree.leaves(grad), jax.tree.leaves(tangent), strict=True)
    )
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grad))
    assert float(forward) == pytest.approx(float(reverse), rel=1e-3, abs=1e-5)
    assert all(float(jnp.abs(g.raw_delay).sum()) > 0 for g in grad)


def test_tiny_training_run_lowers_the_loss_and_freezes_delays_when_asked():
    data = yinyang_splits(TINY.train_size, TINY.validation_size, TINY.test_size)
    records = []
    initial = yy.evaluate(TINY.init(jax.random.key(0)), data.validation, TINY)["accuracy"]
    result = yy.train_yinyang(
        TINY, data=data, epoch_callback=lambda record, params: records.append(record)
    )
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[-1]["loss"] < records[0]["loss"]
    assert result.validation_accuracy > initial + 0.05 and 1 <= result.best_epoch <= 3
    assert all(r["validation_silent"] < 0.5 for r in records)
    summary = result.summary()
    assert summary["learned_delays"] is True and summary["epochs"] == 3
    frozen_config = dataclasses.replace(TINY, learn_delays=False, epochs=1)
    frozen = yy.train_yinyang(frozen_config, data=data, epoch_callback=lambda r, p: False)
    initial = frozen_config.model().delays(frozen_config.init(jax.random.key(0)))
    for before, after in zip(initial, frozen_config.model().delays(frozen.params), strict=True):
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after))


def test_cli_prints_progress_accuracy_and_a_json_line(capsys, tmp_path):
    code = cli.main(
        [
            "yinyang",
            "--epochs", "1", "--hidden", "8", "--batch-size", "20", "--train-size", "40",
            "--validation-size", "20", "--test-size", "20", "--no-learn-delays",
            "--queue", "history:1", "--json", "--save", str(tmp_path / "p.npz"),
        ]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0
    lines = out.out.strip().splitlines()
    assert lines[0].startswith("test accuracy")
    payload = json.loads(lines[-1])
    assert payload["epochs"] == 1 and payload["learned_delays"] is False
    assert 0 <= payload["test_accuracy"] <= 1 and payload["seconds"] > 0
    assert "epoch   1" in out.err and (tmp_path / "p.npz").exists()


def test_cli_rejects_bad_sizes():
    with pytest.raises(SystemExit, match="batch_size"):
        cli.main(["yinyang", "--batch-size", "100", "--train-size", "10"])
