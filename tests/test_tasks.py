"""Learning tasks, fast versions: spike timing, delay recovery, the layered network and its
time-to-first-spike readout."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adseq_lab import network
from adseq_lab.tasks.delay_recovery import (
    alpha_filtered,
    column_losses,
    delay_recovery,
    delay_recovery_raster,
    forced_losses,
    observable_delays,
    observed,
    teacher,
)
from adseq_lab.tasks.feedforward import Feedforward, LayerParams, parse_queue
from adseq_lab.tasks.spike_timing import spike_timing
from adseq_lab.tasks.ttfs import first_spike_times
from adseq_lab.train import raw_delay, value_and_grad


def test_spike_timing_reaches_the_target_within_one_step():
    calls = []
    result = spike_timing(
        target_ms=4.0, steps=120, callback=lambda *a: calls.append(a[0]), every=30
    )
    assert calls == [30, 60, 90, 120]
    assert result.initial_first_spike_ms >= 0 and abs(result.initial_first_spike_ms - 4.0) > 0.5
    assert result.reached and abs(result.error_ms) <= result.dt_ms + 1e-6
    assert result.losses[-1] < 0.01 * result.losses[0]
    assert np.all((result.delays_ms >= 0) & (result.delays_ms <= 6.0))


def test_spike_timing_in_reverse_mode_with_a_queue_per_synapse():
    result = spike_timing(target_ms=4.0, steps=120, mode="reverse", queue="fifo_ring:1")
    assert result.reached


def test_spike_timing_rejects_an_unreachable_window():
    with pytest.raises(ValueError, match="target_ms"):
        spike_timing(target_ms=20.0, duration_ms=12.0)


TINY = dict(n_inputs=4, n_outputs=3, trials=4, duration_ms=15.0, dt_ms=0.1, rate_hz=150.0)


@pytest.fixture(scope="module")
def tiny_recovery():
    """Seed 1 leaves two of the three outputs in a wrong basin after 40 steps."""
    return delay_recovery(**TINY, steps=40, seed=1, restarts=2)


def test_delay_recovery_tiny_loss_falls_and_errors_shrink(tiny_recovery):
    result = tiny_recovery
    assert result.hidden_ms.shape == result.learned_ms.shape == (4, 3)
    assert result.output_spikes > 0
    assert np.all(np.isfinite(result.losses)) and result.steps == 40
    assert result.losses[-5:].mean() < 0.5 * result.losses[:5].mean()
    assert result.mean_error_ms < result.initial_mean_error_ms
    assert np.all((result.learned_ms >= 0) & (result.learned_ms <= 5.0))
    assert 0 <= result.observable <= 1


def test_delay_recovery_restarts_only_failed_outputs_and_never_worsen_them(tiny_recovery):
    result = tiny_recovery
    failed = np.flatnonzero(result.first_column_losses > 0)
    assert failed.size and result.rounds >= 1
    assert set(result.restarted) == set(failed.tolist())
    assert np.all(result.column_losses <= result.first_column_losses)
    kept = np.setdiff1d(np.arange(3), failed)
    np.testing.assert_array_equal(result.column_losses[kept], 0.0)
    assert np.any(result.column_losses[failed] < result.first_column_losses[failed])
    once = delay_recovery(**TINY, steps=40, seed=1, restarts=0)
    assert once.rounds == 0 and once.restarted == ()
    np.testing.assert_array_equal(once.column_losses, result.first_column_losses)
    np.testing.assert_array_equal(once.learned_ms[:, kept], result.learned_ms[:, kept])


SMALL = dict(n_inputs=6, n_outputs=4, trials=16, duration_ms=20.0, dt_ms=0.1, rate_hz=60.0)


def test_refinement_takes_outputs_near_the_teacher_to_zero_loss_and_raises_none():
    """Seed 0: the fit leaves outputs 0 and 2 just above zero loss, 1 and 3 far off."""
    fit_only = delay_recovery(**SMALL, steps=150, seed=0, refine_steps=0)
    refined = delay_recovery(**SMALL, steps=150, seed=0)
    np.testing.assert_array_equal(refined.fitted_ms, fit_only.learned_ms)
    near = (fit_only.column_losses > 0) & (fit_only.column_losses < 0.01)
    assert near.sum() == 2
    np.testing.assert_array_equal(refined.column_losses[near], 0.0)
    assert np.all(refined.column_losses <= fit_only.column_losses)
    assert np.any(refined.learned_ms[:, ~near] != fit_only.learned_ms[:, ~near])
    with pytest.raises(ValueError, match="refine_steps"):
        delay_recovery(**SMALL, refine_steps=-1)
    with pytest.raises(ValueError, match="refine_learning_rate"):
        delay_recovery(**SMALL, refine_learning_rate=0.0)


def test_column_loss_is_exactly_zero_in_the_teachers_steps_and_per_output():
    world = teacher(**TINY, seed=0)
    dt = world.net.dt_ms

    def traces(delays):
        return jax.vmap(lambda s: observed(world, delays, s, (3.0, 1.0), 2)[0])(world.spikes_in)

    target = traces(world.hidden_ms)
    power = jnp.ones(2)
    steps = jnp.round(world.hidden_ms / dt)
    same_steps = (steps + 0.3) * dt  # another delay, the same whole step
    np.testing.assert_array_equal(column_losses(traces(same_steps), target, power), 0.0)
    moved = column_losses(traces(world.hidden_ms.at[0, 1].add(0.5)), target, power)
    assert float(moved[1]) > 0 and float(moved[0]) == float(moved[2]) == 0.0
    with pytest.raises(ValueError, match="traces and targets"):
        column_losses(target, target[..., :2], power)


def test_forced_loss_is_zero_exactly_where_the_free_layer_reproduces_the_teacher():
    world = teacher(**TINY, seed=2)
    dt = world.net.dt_ms

    def per_trial(delays):
        def one(spikes_in, target):
            free = world.simulate(delays, spikes_in).spikes
            return forced_losses(world, delays, spikes_in, target), jnp.all(free == target, 0)

        return jax.vmap(one)(world.spikes_in, teacher_spikes)

    per_trial = jax.jit(per_trial)
    teacher_spikes = jax.vmap(lambda s: world.simulate(world.hidden_ms, s).spikes)(world.spikes_in)
    assert int(teacher_spikes.sum()) > 10
    loss, same = per_trial((jnp.round(world.hidden_ms / dt) + 0.3) * dt)  # the teacher's steps
    np.testing.assert_array_equal(loss, 0.0)
    assert bool(jnp.all(same))
    rng = np.random.default_rng(0)
    outcomes = set()
    for _ in range(12):
        shift = rng.integers(-3, 4, size=world.hidden_ms.shape) * dt
        loss, same = per_trial(jnp.clip(world.hidden_ms + shift, 0.0, 5.0))
        np.testing.assert_array_equal(np.asarray(loss) == 0, np.asarray(same))
        outcomes.update(np.asarray(same).ravel().tolist())
    assert outcomes == {True, False}  # both sides of the equivalence were seen


def test_forced_loss_gradients_agree_forward_and_reverse():
    world = teacher(**TINY, seed=2)
    spikes_in = world.spikes_in[0]
    target = world.simulate(world.hidden_ms, spikes_in).spikes
    delays = jnp.clip(world.hidden_ms + 0.35, 0.0, 5.0)

    def loss(d):
        return jnp.sum(forced_losses(world, d, spikes_in, target))

    reverse, forward = jax.grad(loss)(delays), jax.jacfwd(loss)(delays)
    assert float(loss(delays)) > 0 and bool(jnp.all(jnp.isfinite(reverse)))
    assert float(jnp.abs(reverse).max()) > 0
    np.testing.assert_allclose(forward, reverse, rtol=1e-4, atol=1e-6)


def test_observable_delays_see_a_strong_synapse_and_not_a_silent_one():
    world = teacher(**TINY, seed=0)
    weight = world.weight.at[0, 0].set(0.0).at[1, 0].set(3.0)  # alone above threshold
    seen = observable_delays(dataclasses.replace(world, weight=weight), tolerance_ms=0.1)
    assert seen.shape == (4, 3) and seen.dtype == bool
    assert not seen[0, 0] and seen[1, 0]
    with pytest.raises(ValueError, match="tolerance_ms"):
        observable_delays(world, tolerance_ms=0.0)


def test_teacher_columns_are_the_full_layers_outputs():
    world = teacher(**TINY, seed=0)
    sub = world.columns(np.array([2, 0]))
    full = world.simulate(world.hidden_ms, world.spikes_in[0]).spike_ms
    part = sub.simulate(sub.hidden_ms, world.spikes_in[0]).spike_ms
    np.testing.assert_array_equal(np.asarray(part), np.asarray(full)[:, [2, 0]])
    with pytest.raises(ValueError, match="outputs"):
        world.columns(np.array([], int))


def test_delay_recovery_rejects_a_range_beyond_the_queue():
    with pytest.raises(ValueError, match="delay_range_ms"):
        delay_recovery(delay_range_ms=(0.5, 6.0), max_delay_ms=5.0)
    with pytest.raises(ValueError, match="restarts"):
        delay_recovery(restarts=-1)


def test_alpha_filter_is_the_kernel_and_its_gradient_matches_finite_differences():
    dt, tau = 0.05, 0.5
    spikes = jnp.full((120, 2), -1.0).at[10, 0].set(0.51).at[40, 0].set(2.02).at[30, 1].set(1.52)
    trace = np.asarray(alpha_filtered(spikes, dt, tau))
    t = np.arange(120) * dt
    u = t - 0.51
    expected = np.where(u > 0, (u / tau) * np.exp(1 - u / tau), 0.0)
    u = t - 2.02
    expected = expected + np.where(u > 0, (u / tau) * np.exp(1 - u / tau), 0.0)
    np.testing.assert_allclose(trace[:, 0], expected, rtol=1e-4, atol=1e-6)
    weights = jnp.linspace(-1.0, 2.0, 120)[:, None]

    def loss(s):
        return jnp.sum(alpha_filtered(s, dt, tau) * weights)

    grad = jax.grad(loss)(spikes)
    h = 1e-3
    for index in [(10, 0), (40, 0), (30, 1)]:
        finite = (loss(spikes.at[index].add(h)) - loss(spikes.at[index].add(-h))) / (2 * h)
        assert float(grad[index]) == pytest.approx(float(finite), rel=0.02)
    assert (
        float(
            jnp.abs(grad).sum() - jnp.abs(grad[jnp.array([10, 40, 30]), jnp.array([0, 0, 1])]).sum()
        )
        == 0
    )
    subsampled = alpha_filtered(spikes, dt, tau, every=4)
    np.testing.assert_allclose(np.asarray(subsampled), trace[::4], rtol=1e-6)


@pytest.mark.parametrize(
    "spec, expected",
    [("history:3", ("per_neuron", None, 3)), ("ring", ("per_synapse", "Ring", 1))],
)
def test_parse_queue(spec, expected):
    arrangement, queue, history = parse_queue(spec)
    assert arrangement == expected[0] and history == expected[2]
    assert (queue is None) if expected[1] is None else queue.__name__ == expected[1]
    assert parse_queue("fifo_ring:2")[1].__name__ == "FIFORing[2]"


@pytest.mark.parametrize("spec", ["history", "history:0", "fifo_ring", "ring:x", "nope:2"])
def test_parse_queue_rejects_bad_specs(spec):
    with pytest.raises(ValueError):
        parse_queue(spec)


def test_feedforward_rejects_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        Feedforward(sizes=(3,))
    with pytest.raises(ValueError, match="tau_syn_ms"):
        Feedforward(sizes=(3, 2), tau_syn_ms=0.0)


def small_model(queue="history:2"):
    model = Feedforward(sizes=(3, 6, 2), dt_ms=0.05, max_delay_ms=1.5, queue=queue)
    params = model.init(jax.random.key(3), (1.2, 0.8), (0.5, 0.3), (0.5, 0.3), 0.2)
    spikes = (
        jnp.full((120, 3), -1.0)
        .at[jnp.array([4, 10, 16]), jnp.arange(3)]
        .set(jnp.array([0.2, 0.5, 0.8]))
    )
    return model, params, spikes


def test_feedforward_delays_stay_bounded_and_layers_chain():
    model, params, spikes = small_model()
    for delay in model.delays(params):
        assert float(delay.min()) >= 0 and float(delay.max()) <= 1.5
    results = model.simulate(params, spikes)
    assert [r.spikes.shape for r in results] == [(120, 6), (120, 2)]
    assert results[0].voltage.shape == (120, 0) and results[1].voltage.shape == (120, 2)
    assert int(results[0].spikes.sum()) > 0 and int(results[1].spikes.sum()) > 0


def test_feedforward_gradients_forward_equal_reverse_through_two_layers():
    model, params, spikes = small_model()

    def loss(p):
        result = model.simulate(p, spikes)[-1]
        times, _ = first_spike_times(result, dt_ms=0.05, vthres=1.0, t_max_ms=6.0, slope_ms=2.0)
        return jnp.sum(times * jnp.array([1.0, -0.5]))

    tangent = jax.tree.map(lambda x: jax.random.normal(jax.random.key(9), x.shape), params)
    _, forward = jax.jit(lambda p, t: jax.jvp(loss, (p,), (t,)))(params, tangent)
    grad = jax.jit(jax.grad(loss))(params)
    reverse = sum(
        jnp.vdot(g, t)
        for g, t in zip(jax.tree.leaves(grad), jax.tree.leaves(tangent), strict=False)
    )
    assert np.isfinite(float(forward)) and float(forward) != 0
    assert float(forward) == pytest.approx(float(reverse), rel=1e-4)
    assert float(jnp.abs(grad[0].raw_delay).sum()) > 0  # delay gradients reach the first layer


def test_first_spike_times_interpolates_and_ranks_silent_neurons():
    """Two ramps crossing threshold inside the same step are ordered by interpolation; silent
    neurons sit above t_max, the one closer to threshold first."""
    steps, dt = 20, 0.1
    slopes = jnp.array([0.07, 0.06, 0.04, 0.02])  # per step; cross at 14.3, 16.7 steps; silent
    voltage = jnp.arange(steps)[:, None] * slopes[None, :]
    spikes = (voltage[:-1] < 1) & (voltage[1:] >= 1)
    spikes = jnp.concatenate([spikes, jnp.zeros((1, 4), bool)])
    first = jnp.where(spikes.any(0), jnp.argmax(spikes, 0) * dt, -1.0)
    result = network.SimResult(
        spikes=spikes,
        spike_ms=jnp.where(spikes, jnp.arange(steps)[:, None] * dt, -1.0),
        voltage=voltage,
        current=jnp.zeros_like(voltage),
        pending=jnp.zeros(steps, jnp.int32),
        dropped=jnp.zeros(steps, jnp.int32),
        first_spike_ms=first,
        clamped_delays=jnp.int32(0),
        state=None,
    )
    times, spiked = first_spike_times(result, dt_ms=dt, vthres=1.0, t_max_ms=2.0, slope_ms=1.0)
    times = np.asarray(times)
    assert list(np.asarray(spiked)) == [True, True, False, False]
    np.testing.assert_allclose(times[:2], [dt / 0.07, dt / 0.06], rtol=1e-4)
    assert 2.0 < times[2] < times[3]
    with pytest.raises(ValueError, match="record_voltage"):
        first_spike_times(
            result.__class__(**{**result.__dict__, "voltage": voltage[:, :1]}),
            dt_ms=dt,
            vthres=1.0,
            t_max_ms=2.0,
            slope_ms=1.0,
        )


def test_layer_params_are_a_pytree_for_optax():
    params = [LayerParams(jnp.ones((2, 3)), raw_delay(jnp.full((2, 3), 0.5), 1.0))]
    grads, _ = jax.tree.flatten(jax.tree.map(lambda x: 2 * x, params))
    assert len(grads) == 2
    (value, _), grad = value_and_grad(lambda p: jnp.sum(p[0].weight ** 2))(params)
    assert float(value) == 6.0 and grad[0].weight.shape == (2, 3)


def test_delay_recovery_raster_student_with_hidden_delays_is_the_teacher():
    settings = dict(n_inputs=4, n_outputs=3, trials=2, rate_hz=150.0, duration_ms=15.0)
    world = teacher(**settings, seed=0)
    same = delay_recovery_raster(world.hidden_ms, trial=1, **settings, seed=0)
    names = [name for name, _, _ in same.groups]
    assert names == ["inputs", "teacher", "student"] and same.n_neurons == 4 + 3 + 3

    def spikes(raster, group):
        first, stop = next((f, s) for n, f, s in raster.groups if n == group)
        inside = (raster.neurons >= first) & (raster.neurons < stop)
        return raster.neurons[inside] - first, raster.times_ms[inside]

    teacher_n, teacher_t = spikes(same, "teacher")
    student_n, student_t = spikes(same, "student")
    assert len(teacher_t) > 0
    np.testing.assert_array_equal(teacher_n, student_n)
    np.testing.assert_array_equal(teacher_t, student_t)
    inputs_n, inputs_t = spikes(same, "inputs")
    table = np.asarray(world.spikes_in[1])
    assert len(inputs_t) == int(np.sum(table >= 0))
    moved = delay_recovery_raster(np.full((4, 3), 0.1), trial=1, **settings, seed=0)
    assert not np.array_equal(spikes(moved, "student")[1], student_t)


def test_delay_recovery_raster_refuses_bad_delays_and_trials():
    with pytest.raises(ValueError, match="delays_ms must have shape"):
        delay_recovery_raster(np.zeros((2, 2)), n_inputs=4, n_outputs=3, trials=1)
    with pytest.raises(ValueError, match="delays_ms must lie in"):
        delay_recovery_raster(np.full((4, 3), 9.0), n_inputs=4, n_outputs=3, trials=1)
    with pytest.raises(ValueError, match="trial must lie in"):
        delay_recovery_raster(np.zeros((4, 3)), trial=2, n_inputs=4, n_outputs=3, trials=2)
