"""Delay learning needs exact derivatives of voltages and spike times with respect to delays and
presynaptic spike times: checked against central finite differences of whole-step shifts (the
forward model is exact for them), for both arrangements, LIF and AdEx, through two layers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adseq_lab import inputs, network, queues
from adseq_lab.neurons import AdExParams

DT = 0.01
STEPS = 700


def one_synapse(arrangement, neuron="lif", n_inputs=1):
    return network.Network(
        n_neurons=1,
        n_inputs=n_inputs,
        recurrent=False,
        dt_ms=DT,
        max_delay_ms=3.0,
        arrangement=arrangement,
        queue=queues.get("fifo_ring", 2) if arrangement == "per_synapse" else None,
        history=2,
        neuron=neuron,
        checkpoint=None,
    )


def params_for(weight, delay, neuron="lif"):
    return network.NetworkParams(
        input_weight=jnp.asarray(weight, jnp.float32).reshape(-1, 1),
        input_delay_ms=jnp.asarray(delay, jnp.float32).reshape(-1, 1),
        tau_syn_ms=jnp.float32(1.0),
        tau_mem_ms=jnp.float32(2.0),
        vthres=jnp.float32(1.0),
        adex=AdExParams() if neuron == "adex" else None,
    )


def central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("arrangement", ["per_neuron", "per_synapse"])
def test_first_spike_time_moves_with_the_delay(arrangement):
    """One input spike at 1 ms, weight 3: the output spike moves one-for-one with the delay."""
    net = one_synapse(arrangement)
    drive = inputs.Drive(spikes_ms=inputs.spikes_from_times([[1.0]], STEPS, DT))

    def first_spike(delay):
        return network.simulate(net, params_for(3.0, delay), drive).first_spike_ms[0]

    delay = jnp.float32(1.0)
    forward = float(jax.jit(jax.jacfwd(first_spike))(delay))
    reverse = float(jax.jit(jax.grad(first_spike))(delay))
    finite = float(central(jax.jit(first_spike), delay, 0.2))
    assert finite == pytest.approx(1.0, abs=1e-3)
    assert forward == pytest.approx(reverse, rel=1e-5)
    assert forward == pytest.approx(finite, rel=0.01)


def rising(voltage, arrivals_ms, length_ms=0.6):
    """Sum of the voltage over ``length_ms`` after each arrival (the PSPs' rising phases, where
    the derivative has one sign and the O(dt) error of the tangent does not cancel)."""
    t = jnp.arange(voltage.shape[0]) * DT
    window = sum((t > a) & (t <= a + length_ms) for a in arrivals_ms)
    return jnp.sum(jnp.where(window, voltage, 0.0))


@pytest.mark.parametrize("arrangement", ["per_neuron", "per_synapse"])
def test_voltage_gradient_matches_finite_differences(arrangement):
    """Subthreshold voltage of three delayed inputs (one inhibitory): per-synapse derivative."""
    net = one_synapse(arrangement, n_inputs=3)
    drive = inputs.Drive(spikes_ms=inputs.spikes_from_times([[0.5], [1.0], [1.3]], STEPS, DT))
    weights = jnp.array([0.4, 0.3, -0.2])
    delays = jnp.array([0.5, 1.2, 2.0])
    arrivals = [1.0, 2.2, 3.3]

    def loss(d):
        voltage = network.simulate(net, params_for(weights, d), drive).voltage[:, 0]
        return rising(voltage, arrivals)

    assert float(jnp.max(network.simulate(net, params_for(weights, delays), drive).voltage)) < 1
    gradient = np.asarray(jax.jit(jax.grad(loss))(delays))
    for i in range(3):
        shift = jnp.zeros(3).at[i].set(1.0)
        finite = float(central(jax.jit(lambda s, shift=shift: loss(delays + s * shift)), 0.0, DT))
        assert gradient[i] == pytest.approx(finite, rel=0.03)
        assert np.sign(gradient[i]) == -np.sign(weights[i])  # later input: less charge so far


def test_adex_voltage_gradient_matches_finite_differences():
    net = one_synapse("per_neuron", neuron="adex")
    drive = inputs.Drive(spikes_ms=inputs.spikes_from_times([[0.5]], STEPS, DT))

    def loss(delay):
        voltage = network.simulate(net, params_for(0.5, delay, "adex"), drive).voltage[:, 0]
        return rising(voltage - voltage[0], [1.5])

    delay = jnp.float32(1.0)
    gradient = float(jax.jit(jax.grad(loss))(delay))
    finite = float(central(jax.jit(loss), delay, DT))
    assert gradient < 0
    assert gradient == pytest.approx(finite, rel=0.03)


@pytest.mark.parametrize("arrangement", ["per_neuron", "per_synapse"])
def test_spike_time_gradient_crosses_a_layer(arrangement):
    """Input -> hidden neuron -> output neuron: delaying the first synapse delays the output
    spike one-for-one (the hidden spike time's tangent travels through the second synapse)."""
    first, second = one_synapse(arrangement), one_synapse(arrangement)
    drive = inputs.Drive(spikes_ms=inputs.spikes_from_times([[0.5]], STEPS, DT))

    def output_spike(delay):
        results = network.simulate_chain(
            [(first, params_for(3.0, delay)), (second, params_for(3.0, 0.7))], drive
        )
        return results[-1].first_spike_ms[0]

    delay = jnp.float32(0.8)
    gradient = float(jax.jit(jax.grad(output_spike))(delay))
    finite = float(central(jax.jit(output_spike), delay, 0.2))
    assert finite == pytest.approx(1.0, abs=1e-3)
    assert gradient == pytest.approx(finite, rel=0.02)


def test_vmapped_layer_gradients_equal_single_ones():
    """``vmap(grad)`` over examples (the training loop's order) equals one-by-one gradients."""
    net = one_synapse("per_neuron", n_inputs=2)
    times = [[[0.5], [1.0]], [[0.7], [0.2]]]
    drives = [inputs.spikes_from_times(t, STEPS, DT) for t in times]

    def loss(delays, spikes):
        result = network.simulate(
            net, params_for([2.0, 1.5], delays), inputs.Drive(spikes_ms=spikes)
        )
        return result.first_spike_ms[0]

    delays = jnp.array([0.4, 0.9])
    batched = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0)))(delays, jnp.stack(drives))
    for index, spikes in enumerate(drives):
        single = jax.jit(jax.grad(loss))(delays, spikes)
        np.testing.assert_allclose(np.asarray(batched[index]), np.asarray(single), rtol=1e-5)
