"""Drives and connectivity: shapes, seeding, grid placement and the errors users hit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adseq_lab import connectivity, inputs
from adseq_lab.spikes import NO_SPIKE


def test_spikes_from_times_places_on_the_grid():
    table = np.asarray(inputs.spikes_from_times([[0.0, 0.26], [], [1.0]], 12, 0.1))
    assert table.shape == (12, 3)
    assert table[0, 0] == 0.0 and table[3, 0] == pytest.approx(0.3)
    assert np.all(table[:, 1] == NO_SPIKE)
    assert table[10, 2] == pytest.approx(1.0)
    assert (table >= 0).sum() == 3


@pytest.mark.parametrize(("times", "match"), [([[1.2]], "outside"), ([[0.1, 0.12]], "two spikes")])
def test_spikes_from_times_errors(times, match):
    with pytest.raises(ValueError, match=match):
        inputs.spikes_from_times(times, 12, 0.1)


def test_poisson_rate_and_seed():
    a = inputs.poisson_spikes(jax.random.key(0), 200.0, 20_000, 4, 0.1)
    b = inputs.poisson_spikes(jax.random.key(0), 200.0, 20_000, 4, 0.1)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rate = float((a >= 0).sum()) / (4 * 20_000 * 0.1 / 1000)
    assert rate == pytest.approx(200.0, rel=0.05)


def test_constant_current_window_and_raster():
    current = np.asarray(inputs.constant_current(100, 3, 1.0, 0.025, stop_ms=2.0))
    assert current[:80].min() == 1.0 and current[80:].max() == 0.0
    raster = jnp.zeros((5, 2), bool).at[2, 1].set(True)
    times = np.asarray(inputs.spikes_from_raster(raster, 0.5))
    assert times[2, 1] == 1.0 and (times >= 0).sum() == 1
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        inputs.constant_current(0, 3, 1.0, 0.1)
    with pytest.raises(ValueError, match="dt_ms must be a positive time step"):
        inputs.constant_current(10, 3, 1.0, 0.0)


def test_drive_steps():
    assert inputs.Drive().steps is None
    assert inputs.Drive(current=jnp.zeros((7, 2))).steps == 7


def test_connection_mask_probability_and_diagonal():
    mask = np.asarray(
        connectivity.connection_mask(jax.random.key(1), (200, 200), 0.3, self_connections=False)
    )
    assert not mask.diagonal().any()
    assert mask.mean() == pytest.approx(0.3 * (1 - 1 / 200), abs=0.02)
    assert connectivity.connection_mask(jax.random.key(1), (3, 4)) is None
    with pytest.raises(ValueError, match="probability"):
        connectivity.connection_mask(jax.random.key(1), (3, 4), 1.5)


def test_delays_are_clipped_and_weights_scaled():
    delays = np.asarray(connectivity.draw_delays(jax.random.key(2), (50, 50), 4.0, 2.0, 7.0))
    assert delays.min() >= 0.0 and delays.max() <= 7.0
    assert delays.mean() == pytest.approx(4.0, abs=0.2)
    uniform = np.asarray(
        connectivity.draw_delays(jax.random.key(2), (50, 50), 1.0, 0.5, distribution="uniform")
    )
    assert 0.5 <= uniform.min() and uniform.max() <= 1.5
    weights = np.asarray(
        connectivity.draw_weights(jax.random.key(3), (10, 10), 0.5, "normal_squared")
    )
    assert weights.min() >= 0
    seed = np.asarray(connectivity.seed_rsnn_weights(jax.random.key(4), 10))
    assert not seed.diagonal().any()
    with pytest.raises(ValueError, match="max_delay_ms"):
        connectivity.draw_delays(jax.random.key(2), (2, 2), 8.0, 0.0, 7.0)
    with pytest.raises(ValueError, match="distribution"):
        connectivity.draw_weights(jax.random.key(2), (2, 2), 1.0, "cauchy")


@pytest.mark.parametrize("name", ["network", "inputs", "connectivity", "xla_options"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"adseq_lab.{name}"))
    assert result.attempted > 0 and result.failed == 0
