"""Gradients of the network API: forward (jvp) == reverse (vjp) for every gradient-capable queue
kind and the memory-lean arrangement, both == central finite differences where the loss is
smooth, no NaN without spikes, checkpointing and batching leave gradients unchanged."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from small_networks import build_small_network, constant_drive

from adseq_lab import inputs, network, queues

DT = 0.1
STEPS = 200
N, N_IN = 10, 4


def build(arrangement="per_neuron", queue="ring", capacity=None, **overrides):
    settings = dict(
        n_inputs=N_IN,
        dt_ms=DT,
        delay_spread_ms=0.4,
        arrangement=arrangement,
        queue=queue,
        capacity=capacity,
        history=8,
        checkpoint=None,
    )
    return build_small_network(jax.random.key(21), N, **(settings | overrides))


DRIVE = constant_drive(jax.random.key(22), STEPS, N, N_IN, DT, current=0.08, rate_hz=200.0)


def loss_of(net, drive=DRIVE):
    def loss(params):
        result = network.simulate(net, params, drive)
        spike_times = jnp.sum(jnp.where(result.spikes, result.spike_ms, 0.0))
        first = jnp.sum(jnp.where(result.first_spike_ms >= 0, result.first_spike_ms, 0.0))
        return spike_times + first + 0.1 * jnp.sum(result.voltage) + jnp.sum(result.current)

    return loss


def differentiable(params):
    """The float leaves we differentiate: weights, delays, time constants, threshold."""
    return dataclasses.replace(params, adex=None)


def direction(params, seed=0):
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(
        tree, [jax.random.normal(k, jnp.shape(x)) for k, x in zip(keys, leaves, strict=True)]
    )


def forward_and_reverse(loss, params, tangent):
    """``(jvp along tangent, <grad, tangent>)`` in one compiled program."""

    def both(params, tangent):
        _, forward = jax.jvp(loss, (params,), (tangent,))
        gradient = jax.grad(loss)(params)
        reverse = sum(
            jnp.vdot(g, t)
            for g, t in zip(jax.tree.leaves(gradient), jax.tree.leaves(tangent), strict=True)
        )
        return forward, reverse, gradient

    return jax.jit(both)(params, tangent)


GRAD_KINDS = [
    pytest.param(name, 8 if queues.info(name).has_capacity and name != "bgpq1" else None)
    for name in queues.names()
    if queues.info(name).supports_grad and name != "do_nothing"
]


@pytest.mark.parametrize(("kind", "capacity"), GRAD_KINDS)
def test_forward_equals_reverse_per_synapse(kind, capacity):
    net, params = build("per_synapse", kind, capacity, n_inputs=0)
    drive = inputs.Drive(current=inputs.constant_current(STEPS, N, 2.0, DT, stop_ms=2.0))
    params = differentiable(params)
    forward, reverse, gradient = forward_and_reverse(loss_of(net, drive), params, direction(params))
    assert np.isfinite(float(forward))
    assert float(forward) == pytest.approx(float(reverse), rel=2e-4, abs=1e-3)
    assert float(jnp.abs(gradient.recurrent_delay_ms).sum()) > 0


def test_forward_equals_reverse_per_neuron_and_matches_per_synapse():
    net, params = build("per_neuron")
    params = differentiable(params)
    tangent = direction(params, seed=1)
    forward, reverse, gradient = forward_and_reverse(loss_of(net), params, tangent)
    assert float(forward) == pytest.approx(float(reverse), rel=2e-4, abs=1e-3)
    queued = dataclasses.replace(net, arrangement="per_synapse", queue=queues.get("ring"))
    _, _, queued_gradient = forward_and_reverse(loss_of(queued), params, tangent)
    for ours, theirs in zip(
        jax.tree.leaves(gradient), jax.tree.leaves(queued_gradient), strict=True
    ):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("reset_gradient", ["exact", "surrogate"])
def test_jacfwd_equals_grad_for_delays(reset_gradient):
    net, params = build("per_neuron", reset_gradient=reset_gradient)
    loss = loss_of(net)

    def of_delays(delays):
        return loss(dataclasses.replace(params, recurrent_delay_ms=delays))

    reverse = jax.jit(jax.grad(of_delays))(params.recurrent_delay_ms)
    forward = jax.jit(jax.jacfwd(of_delays))(params.recurrent_delay_ms)
    np.testing.assert_allclose(np.asarray(forward), np.asarray(reverse), rtol=1e-4, atol=1e-4)
    assert np.abs(np.asarray(reverse)).sum() > 0


def test_adex_forward_equals_reverse():
    net, params = build("per_neuron", neuron="adex", weight_scale=0.3, input_weight_scale=3.0)
    drive = dataclasses.replace(DRIVE, current=jnp.full((STEPS, N), 0.6))
    loss = loss_of(net, drive)
    tangent = dataclasses.replace(
        jax.tree.map(jnp.zeros_like, params),
        recurrent_delay_ms=jnp.ones((N, N)),
        input_weight=direction(params).input_weight,
    )
    forward, reverse, _ = forward_and_reverse(loss, params, tangent)
    assert float(forward) == pytest.approx(float(reverse), rel=2e-4, abs=1e-3)


def subthreshold(arrangement):
    """A feedforward layer that never spikes: the loss is smooth in weights and delays."""
    delays = jnp.array(
        np.random.default_rng(0).integers(2, 12, size=(N_IN, N)) * 0.125, jnp.float32
    )
    net, params = network.build_network(
        jax.random.key(3),
        N,
        n_inputs=N_IN,
        recurrent=False,
        input_weight_scale=0.1,
        input_delay_ms=delays,
        max_delay_ms=2.0,
        dt_ms=0.125,
        arrangement=arrangement,
        queue="ring",
        capacity=None,
    )
    drive = inputs.Drive(
        spikes_ms=inputs.spikes_from_times([[0.0, 2.5], [0.5], [1.0, 3.0], [0.25]], 60, 0.125)
    )
    return net, params, drive


@pytest.mark.parametrize("arrangement", ["per_neuron", "per_synapse"])
def test_weight_gradient_matches_finite_differences(arrangement):
    net, params, drive = subthreshold(arrangement)

    def loss(weight):
        result = network.simulate(net, dataclasses.replace(params, input_weight=weight), drive)
        assert_no_spike = jnp.sum(result.spikes)
        return jnp.sum(result.voltage**2), assert_no_spike

    loss = jax.jit(loss)
    weight = params.input_weight
    assert int(loss(weight)[1]) == 0
    tangent = jax.random.normal(jax.random.key(5), weight.shape)
    gradient = jax.jit(jax.grad(lambda w: loss(w)[0]))(weight)
    eps = 1e-2
    finite = (loss(weight + eps * tangent)[0] - loss(weight - eps * tangent)[0]) / (2 * eps)
    assert float(jnp.vdot(gradient, tangent)) == pytest.approx(float(finite), rel=2e-3)


@pytest.mark.parametrize("arrangement", ["per_neuron", "per_synapse"])
def test_delay_gradient_matches_finite_differences(arrangement):
    """Shifting delays by exactly one step moves each arrival one step; the current after the
    last arrival changes like exp(-(t - t_arrival)/tau_syn), whose derivative the tangent is."""
    net, params, drive = subthreshold(arrangement)
    late = slice(45, 60)  # after every arrival (last input 3.0 ms + 1.5 ms = step 36)

    def loss(delays):
        result = network.simulate(net, dataclasses.replace(params, input_delay_ms=delays), drive)
        return jnp.sum(result.current[late] * jnp.arange(1, N + 1))

    loss = jax.jit(loss)
    delays = params.input_delay_ms
    gradient = np.asarray(jax.jit(jax.grad(loss))(delays))
    h = net.dt_ms
    shift = jnp.ones_like(delays)
    finite = (loss(delays + h * shift) - loss(delays - h * shift)) / (2 * h)
    assert gradient.sum() == pytest.approx(float(finite), rel=2e-3)
    for i, j in [(0, 0), (2, 5), (3, 9)]:
        one = jnp.zeros_like(delays).at[i, j].set(h)
        finite_ij = (loss(delays + one) - loss(delays - one)) / (2 * h)
        assert gradient[i, j] == pytest.approx(float(finite_ij), rel=2e-3)
        assert gradient[i, j] > 0


def test_no_nan_without_spikes():
    net, params = build("per_neuron")
    silent = inputs.Drive(current=jnp.zeros((STEPS, N)), spikes_ms=jnp.full((STEPS, N_IN), -1.0))
    loss = loss_of(net, silent)
    gradient = jax.jit(jax.grad(loss))(differentiable(params))
    forward = jax.jit(
        jax.jacfwd(
            lambda s: loss(
                dataclasses.replace(params, recurrent_delay_ms=params.recurrent_delay_ms + s)
            )
        )
    )(jnp.float32(0.0))
    for leaf in jax.tree.leaves(gradient) + [forward]:
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert float(jnp.abs(gradient.recurrent_delay_ms).sum()) == 0.0


def test_checkpointing_does_not_change_gradients():
    net, params = build("per_neuron")
    params = differentiable(params)
    gradients = []
    for checkpoint in (None, (16, 4)):
        variant = dataclasses.replace(net, checkpoint=checkpoint)
        gradients.append(jax.jit(jax.grad(loss_of(variant)))(params))
    for a, b in zip(jax.tree.leaves(gradients[0]), jax.tree.leaves(gradients[1]), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def test_vmapped_gradients_equal_single_gradients():
    net, params = build("per_neuron")
    params = differentiable(params)
    scales = jnp.array([0.8, 1.0, 1.2])
    batch = jax.vmap(lambda s: dataclasses.replace(params, input_weight=s * params.input_weight))(
        scales
    )
    grad = jax.jit(jax.grad(loss_of(net)))
    batched = jax.jit(jax.vmap(jax.grad(loss_of(net))))(batch)
    for index in range(len(scales)):
        single = grad(jax.tree.map(lambda x, i=index: x[i], batch))
        np.testing.assert_allclose(
            np.asarray(batched.input_delay_ms[index]),
            np.asarray(single.input_delay_ms),
            rtol=1e-5,
            atol=1e-5,
        )


def test_reverse_mode_memory_grows_with_neurons_times_events():
    """XLA's peak estimate of grad: per_neuron stays far below per_synapse at 2,000 steps."""
    from adseq_lab.bench import measure

    peaks = {}
    for arrangement in ("per_neuron", "per_synapse"):
        net, params = build(arrangement, "ring", checkpoint="auto")
        steps = 2000
        drive = inputs.Drive(current=jnp.full((steps, N), 0.08))
        executable = measure.compiled(jax.grad(loss_of(net, drive)), differentiable(params))
        peaks[arrangement] = measure.peak_bytes(executable)
    assert peaks["per_neuron"] < peaks["per_synapse"]
    per_step_state = (8 * (N + N_IN) + 4 * N) * 4
    assert peaks["per_neuron"] < 4 * 2000 * per_step_state + 2_000_000
