"""Training utilities: bounded delays, gradients in both modes, the optax loop (callback, stop,
clipping), checkpoints and resume."""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adseq_lab import inputs, network
from adseq_lab.train import (
    bounded_delay,
    fit,
    load_checkpoint,
    make_update,
    raw_delay,
    save_checkpoint,
    value_and_grad,
)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.floats(allow_nan=False, width=32),
    max_delay=st.floats(min_value=1e-3, max_value=1e3, allow_nan=False),
)
def test_bounded_delay_stays_inside_the_queue_reach(raw, max_delay):
    delay = float(bounded_delay(jnp.float32(raw), max_delay))
    assert 0.0 <= delay <= np.float32(max_delay)


def test_bounded_delay_extremes_and_inverse():
    top = 7.0
    edges = bounded_delay(jnp.array([-jnp.inf, -1e30, 0.0, 1e30, jnp.inf]), top)
    np.testing.assert_array_equal(np.asarray(edges), [0.0, 0.0, 3.5, 7.0, 7.0])
    delays = jnp.linspace(0.1, 6.9, 11)
    np.testing.assert_allclose(bounded_delay(raw_delay(delays, top), top), delays, rtol=1e-5)
    assert np.all(np.isfinite(raw_delay(jnp.array([0.0, 7.0, 9.0]), top)))
    # the derivative is d (1 - d / max): largest mid-range, never zero inside
    grad = jax.grad(lambda r: bounded_delay(r, top))(jnp.float32(0.0))
    assert float(grad) == pytest.approx(3.5 * 0.5)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "x"])
def test_bounded_delay_rejects_bad_max_delay(bad):
    with pytest.raises(ValueError, match="max_delay_ms"):
        bounded_delay(jnp.zeros(2), bad)


def spike_time_loss(dt_ms=0.05, steps=160):
    """Two input spikes onto one LIF neuron; loss = (first spike - 5 ms)^2 of the delays."""
    net = network.Network(
        n_neurons=1,
        n_inputs=2,
        recurrent=False,
        dt_ms=dt_ms,
        max_delay_ms=4.0,
        arrangement="per_neuron",
        history=1,
        checkpoint=None,
    )
    drive = inputs.Drive(spikes_ms=inputs.spikes_from_times([[0.5], [1.0]], steps, dt_ms))

    def loss(raw, scale=1.0):
        params = network.NetworkParams(
            input_weight=jnp.full((2, 1), 2.0) * scale,
            input_delay_ms=bounded_delay(raw, 4.0).reshape(2, 1),
            tau_syn_ms=jnp.float32(1.0),
            tau_mem_ms=jnp.float32(2.0),
            vthres=jnp.float32(1.0),
        )
        first = network.simulate(net, params, drive).first_spike_ms[0]
        return (first - 5.0) ** 2

    return loss


def test_forward_and_reverse_gradients_agree_on_a_spiking_loss():
    loss = spike_time_loss()
    raw = raw_delay(jnp.array([1.0, 1.5]), 4.0)
    (value_f, _), grad_f = jax.jit(value_and_grad(loss, mode="forward"))(raw)
    (value_r, _), grad_r = jax.jit(value_and_grad(loss, mode="reverse"))(raw)
    assert float(value_f) == float(value_r) > 0
    assert np.all(np.isfinite(grad_r)) and float(jnp.abs(grad_r).sum()) > 0
    np.testing.assert_allclose(np.asarray(grad_f), np.asarray(grad_r), rtol=1e-4)
    assert np.all(np.asarray(grad_r) < 0)  # firing too early: lengthen the delays


def test_per_example_gradient_is_the_mean_of_single_gradients():
    loss = spike_time_loss()
    raw = raw_delay(jnp.array([1.0, 1.5]), 4.0)
    scales = jnp.array([0.9, 1.0, 1.2])
    (mean_loss, _), batched = jax.jit(value_and_grad(loss, per_example=True))(raw, scales)
    singles = [jax.grad(loss)(raw, s) for s in scales]
    np.testing.assert_allclose(np.asarray(batched), np.mean(singles, axis=0), rtol=1e-5)
    assert float(mean_loss) == pytest.approx(float(np.mean([loss(raw, s) for s in scales])))


def test_value_and_grad_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        value_and_grad(lambda p: p, mode="backward")


def quadratic(params):
    return jnp.sum((params["d"] - jnp.arange(3.0)) ** 2)


def test_fit_minimises_and_calls_back_every_k_steps():
    calls = []

    def callback(step, loss, params, grads):
        calls.append((step, loss, params["d"].shape, grads["d"].shape))

    result = fit(
        quadratic, {"d": jnp.zeros(3)}, steps=60, learning_rate=0.1, callback=callback, every=20
    )
    assert [c[0] for c in calls] == [20, 40, 60]
    assert all(c[2] == c[3] == (3,) for c in calls)
    assert result.losses.shape == (60,) and result.losses[-1] < 0.05 * result.losses[0]
    assert result.step == 60 and not result.stopped


def test_callback_returning_false_stops_training():
    seen = []

    def stop_at_7(step, loss, params, grads):
        seen.append(step)
        return step < 7

    result = fit(quadratic, {"d": jnp.zeros(3)}, steps=100, callback=stop_at_7)
    assert seen == list(range(1, 8))
    assert result.stopped and result.step == 7 and len(result.losses) == 7


def test_stop_event_stops_before_the_next_step():
    event = threading.Event()

    def set_at_3(step, loss, params, grads):
        if step == 3:
            event.set()

    result = fit(quadratic, {"d": jnp.zeros(3)}, steps=50, callback=set_at_3, stop=event)
    assert result.stopped and result.step == 3


def test_gradient_clipping_bounds_each_update():
    update = make_update(quadratic, optax.sgd(1.0), clip_norm=0.5, with_batch=False)
    from adseq_lab.train import TrainState

    params = {"d": jnp.full(3, 100.0)}
    state = TrainState(
        jnp.int32(0),
        params,
        optax.chain(optax.clip_by_global_norm(0.5), optax.sgd(1.0)).init(params),
    )
    new, loss, grads, _ = update(state)
    moved = float(jnp.linalg.norm(new.params["d"] - params["d"]))
    assert moved == pytest.approx(0.5, rel=1e-5)
    assert float(jnp.linalg.norm(grads["d"])) > 100  # the reported gradients are unclipped


def test_fit_with_batches_and_forward_mode():
    target = jnp.array([1.0, -2.0])
    batches = (target + 0.01 * i for i in range(1000))
    result = fit(
        lambda p, b: jnp.sum((p - b) ** 2),
        jnp.zeros(2),
        steps=150,
        learning_rate=0.05,
        batches=batches,
        mode="forward",
    )
    assert result.losses[-1] < 0.05 * result.losses[0]


def test_checkpoint_round_trip_and_template_mismatch(tmp_path):
    params = {"w": jnp.arange(6.0).reshape(2, 3), "raw": jnp.array([0.5, -1.0])}
    opt_state = optax.adam(0.1).init(params)
    tree = (params, opt_state, jnp.int32(12))
    path = tmp_path / "state.npz"
    save_checkpoint(path, tree, {"epoch": 3, "note": "x"})
    restored, metadata = load_checkpoint(path, like=tree)
    for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert np.asarray(a).dtype == np.asarray(b).dtype
    assert metadata == {"epoch": 3, "note": "x"}
    with pytest.raises(ValueError, match="shapes differ"):
        load_checkpoint(path, like=({"w": jnp.zeros((3, 3)), "raw": jnp.zeros(2)}, opt_state, 0))
    with pytest.raises(ValueError, match="treedef differ"):
        load_checkpoint(path, like=params)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.npz", like=tree)


def test_resume_continues_exactly_where_training_stopped(tmp_path):
    path = tmp_path / "fit.npz"
    optimizer = optax.adam(0.05)
    straight = fit(quadratic, {"d": jnp.zeros(3)}, steps=30, optimizer=optimizer)

    def stop_at_12(step, loss, params, grads):
        return step < 12

    first = fit(
        quadratic,
        {"d": jnp.zeros(3)},
        steps=30,
        optimizer=optimizer,
        callback=stop_at_12,
        checkpoint=path,
    )
    assert first.stopped and first.step == 12 and path.exists()
    resumed = fit(
        quadratic, {"d": jnp.zeros(3)}, steps=30, optimizer=optimizer, checkpoint=path, resume=True
    )
    assert resumed.step == 30 and len(resumed.losses) == 30
    np.testing.assert_allclose(resumed.params["d"], straight.params["d"], rtol=1e-6)
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=-1), "steps"),
        (dict(steps=5, every=0), "every"),
        (dict(steps=5, resume=True), "resume"),
        (dict(steps=5, checkpoint_every=0), "checkpoint_every"),
        (dict(steps=5, clip_norm=0.0), "clip_norm"),
    ],
)
def test_fit_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(quadratic, {"d": jnp.zeros(3)}, **kwargs)
