"""What live dashboards take from the tasks: spike rasters of a task's network for given
parameters (checked against the network's own simulation and the task's results), and Yin-Yang
training with a per-step callback, a gradient mode and an optimiser of one's own."""

from __future__ import annotations

import dataclasses
import doctest

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from adseq_lab import network, queues
from adseq_lab.inputs import Drive, spikes_from_times
from adseq_lab.tasks import raster as raster_module
from adseq_lab.tasks import yinyang as yy
from adseq_lab.tasks.raster import Raster
from adseq_lab.tasks.spike_timing import spike_timing, spike_timing_raster
from adseq_lab.tasks.yinyang_data import yinyang_splits

# ---- Raster ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    first=hnp.arrays(np.bool_, st.tuples(st.integers(1, 6), st.integers(1, 4))),
    width=st.integers(1, 3),
    dt_ms=st.sampled_from([0.05, 0.1, 0.25]),
)
def test_raster_stacks_the_populations_spike_by_spike(first, width, dt_ms):
    steps = first.shape[0]
    second = np.zeros((steps, width), bool)
    second[::2, 0] = True
    tables = []
    for spiked in (first, second):
        t = np.arange(steps, dtype=np.float32)[:, None] * np.float32(dt_ms)
        tables.append(np.where(spiked, t, -1.0).astype(np.float32))
    raster = Raster.from_tables((("a", tables[0]), ("b", tables[1])), dt_ms)
    expected = sorted(
        (offset + n, float(tables[k][s, n]))
        for k, (offset, spiked) in enumerate(((0, first), (first.shape[1], second)))
        for s, n in zip(*np.nonzero(spiked), strict=True)
    )
    found = sorted(zip(raster.neurons.tolist(), raster.times_ms.tolist(), strict=True))
    assert found == expected
    assert raster.groups == (("a", 0, first.shape[1]), ("b", first.shape[1], raster.n_neurons))
    assert raster.n_neurons == first.shape[1] + width and len(raster) == len(expected)
    assert raster.duration_ms == pytest.approx(steps * dt_ms)


def test_raster_docstring_example_runs():
    result = doctest.testmod(raster_module)
    assert result.attempted > 0 and result.failed == 0


def test_raster_refuses_mismatched_tables():
    with pytest.raises(ValueError, match="one common T"):
        Raster.from_tables((("a", np.zeros((3, 1))), ("b", np.zeros((4, 1)))), 0.1)
    with pytest.raises(ValueError, match="at least one"):
        Raster.from_tables((), 0.1)


# ---- spike timing ---------------------------------------------------------------------------


def test_spike_timing_raster_is_the_networks_simulation_and_the_tasks_first_spike():
    inputs = (1.0, 1.5, 2.0)
    delays = np.array([0.5, 2.0, 3.5], np.float32)
    raster = spike_timing_raster(delays, input_ms=inputs, queue="fifo_ring:1")
    net = network.Network(
        n_neurons=1,
        n_inputs=3,
        recurrent=False,
        dt_ms=0.05,
        max_delay_ms=6.0,
        queue=queues.get("fifo_ring", 1),
        checkpoint=None,
    )
    params = network.NetworkParams(
        input_weight=jnp.full((3, 1), 1.2),
        input_delay_ms=jnp.asarray(delays).reshape(3, 1),
        tau_syn_ms=jnp.float32(1.0),
        tau_mem_ms=jnp.float32(2.0),
        vthres=jnp.float32(1.0),
    )
    drive = Drive(spikes_ms=spikes_from_times([[t] for t in inputs], 240, 0.05))
    neurons, times = network.simulate(net, params, drive).spike_times()
    assert len(neurons) >= 1
    out = raster.neurons == 3
    np.testing.assert_array_equal(raster.times_ms[out], times)
    np.testing.assert_allclose(raster.times_ms[~out], inputs, atol=1e-6)
    np.testing.assert_array_equal(raster.neurons[~out], [0, 1, 2])
    assert raster.groups == (("inputs", 0, 3), ("neuron", 3, 4)) and raster.duration_ms == 12.0

    learned = spike_timing(target_ms=4.0, steps=30)
    after = spike_timing_raster(learned.delays_ms)
    assert after.times_ms[after.neurons == 3][0] == pytest.approx(learned.first_spike_ms)


def test_spike_timing_raster_refuses_bad_delays():
    with pytest.raises(ValueError, match=r"delays_ms must have shape \(3,\)"):
        spike_timing_raster([1.0, 2.0])
    with pytest.raises(ValueError, match=r"delays_ms must lie in \[0, max_delay_ms=6.0\]"):
        spike_timing_raster([1.0, 2.0, 7.0])


# ---- Yin-Yang -------------------------------------------------------------------------------

SMALL = yy.YinYangConfig(
    hidden=6,
    epochs=3,
    batch_size=4,
    train_size=8,
    validation_size=8,
    test_size=8,
    steps=100,
)
DATA = yinyang_splits(8, 8, 8)


def test_yinyang_raster_is_the_models_simulation_of_the_encoded_example():
    config = dataclasses.replace(SMALL, hidden=12)
    params = jax.jit(config.init)(jax.random.key(3))
    features = DATA.validation.features[1]
    raster = yy.yinyang_raster(params, features, config)
    table = jax.jit(yy.encode, static_argnums=1)(jnp.asarray(features), config)
    results = jax.jit(config.model().simulate)(params, table)
    assert raster.groups == (("inputs", 0, 5), ("hidden", 5, 17), ("outputs", 17, 20))
    tables = [np.asarray(table)] + [np.asarray(r.spike_ms) for r in results]
    for (_, first, stop), spike_ms in zip(raster.groups, tables, strict=True):
        steps, index = np.nonzero(spike_ms >= 0)
        mine = (raster.neurons >= first) & (raster.neurons < stop)
        np.testing.assert_array_equal(raster.neurons[mine], first + index)
        np.testing.assert_array_equal(raster.times_ms[mine], spike_ms[steps, index])
    predict = jax.jit(yy.predictions, static_argnums=2)
    hidden_spikes = int(predict(params, jnp.asarray(features), config)[3])
    assert np.sum((raster.neurons >= 5) & (raster.neurons < 17)) == hidden_spikes > 0
    assert raster.duration_ms == pytest.approx(config.t_max_ms)


def test_yinyang_raster_refuses_mismatched_inputs():
    params = jax.jit(SMALL.init)(jax.random.key(0))
    with pytest.raises(ValueError, match=r"features must be one example's \(4,\)"):
        yy.yinyang_raster(params, DATA.train.features[:2], SMALL)
    with pytest.raises(ValueError, match=r"config.hidden=7"):
        yy.yinyang_raster(params, DATA.train.features[0], dataclasses.replace(SMALL, hidden=7))


def test_train_yinyang_calls_back_every_step_stops_and_takes_mode_and_optimizer():
    calls, epochs = [], []

    def callback(step, loss, params, grads):
        calls.append((step, loss, grads))
        return step < 4  # stop after the fourth step: it ends epoch 2 (2 steps per epoch)

    result = yy.train_yinyang(
        SMALL, data=DATA, callback=callback, epoch_callback=lambda r, p: epochs.append(r)
    )
    assert [c[0] for c in calls] == [1, 2, 3, 4] and result.stopped
    assert [r["epoch"] for r in epochs] == [1, 2] == [r["epoch"] for r in result.history]
    for record, pair in zip(epochs, (calls[:2], calls[2:]), strict=True):
        assert record["loss"] == pytest.approx(np.mean([c[1] for c in pair]))

    initial = SMALL.init(jax.random.key(SMALL.seed))
    frozen = dataclasses.replace(SMALL, learn_delays=False, epochs=1)
    forward = []
    sgd = yy.train_yinyang(
        frozen,
        data=DATA,
        callback=lambda step, loss, params, grads: forward.append((loss, grads, params)),
        mode="forward",
        optimizer=optax.sgd(0.5),
    )
    assert len(forward) == 2 and not sgd.stopped
    # the same first batch from the same parameters: forward = reverse gradients and loss
    assert forward[0][0] == pytest.approx(calls[0][1], rel=1e-5)
    for fwd, rev in zip(jax.tree.leaves(forward[0][1]), jax.tree.leaves(calls[0][2]), strict=True):
        np.testing.assert_allclose(fwd, rev, rtol=2e-3, atol=1e-5)
    # plain SGD on the weights: one step moves them by -0.5 * (clipped) gradient
    clipped = optax.clip_by_global_norm(SMALL.clip_norm).update(forward[0][1], None)[0]
    for before, after, g in zip(initial, forward[0][2], clipped, strict=True):
        np.testing.assert_allclose(after.weight, before.weight - 0.5 * g.weight, atol=1e-6)
        np.testing.assert_array_equal(after.raw_delay, before.raw_delay)  # frozen delays
