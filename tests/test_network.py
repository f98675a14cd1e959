"""The network API: both arrangements against a plain reference model and against each other,
statistics, continuation, batching, validation."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from small_networks import build_small_network, constant_drive

from adseq_lab import inputs, network, queues
from adseq_lab.neurons import AdExParams

DT = 0.1
STEPS = 300
N, N_IN = 12, 5


def small_network(key, arrangement="per_synapse", queue="fifo_ring", capacity=4, **overrides):
    settings = dict(
        n_inputs=N_IN,
        dt_ms=DT,
        input_connection_prob=0.8,
        delay_spread_ms=0.5,
        arrangement=arrangement,
        queue=queue,
        capacity=capacity,
        history=capacity or 4,
    )
    return build_small_network(key, N, **(settings | overrides))


def small_drive(key, steps=STEPS, rate_hz=150.0):
    return constant_drive(key, steps, N, N_IN, DT, current=0.05, rate_hz=rate_hz)


simulate = jax.jit(network.simulate)


def reference(net, params, drive) -> dict[str, np.ndarray]:
    """Plain numpy model of the documented update order: per-synapse lists of arrival steps."""
    n, dt = net.n_neurons, net.dt_ms
    tau_syn, tau_mem, vthres = (
        float(params.tau_syn_ms),
        float(params.tau_mem_ms),
        float(params.vthres),
    )
    projections = [
        (
            np.asarray(params.input_weight),
            np.asarray(params.input_delay_ms),
            np.asarray(net.input_mask) if net.input_mask is not None else None,
            "inputs",
        ),
        (
            np.asarray(params.recurrent_weight),
            np.asarray(params.recurrent_delay_ms),
            np.asarray(net.recurrent_mask) if net.recurrent_mask is not None else None,
            "recurrent",
        ),
    ]
    spikes_in = np.asarray(drive.spikes_ms)
    current_ext = np.asarray(drive.current)
    steps = spikes_in.shape[0]
    pending = [dict() for _ in projections]  # (i, j) -> list of arrival steps
    v = np.zeros(n, np.float32)
    isyn = np.zeros(n, np.float32)
    decay, alpha = np.float32(np.exp(-dt / tau_mem)), np.float32(np.exp(-dt / tau_syn))
    raster = np.zeros((steps, n), bool)
    for k in range(steps):
        total = isyn + current_ext[k]
        vnext = np.where(v >= vthres, 0.0, decay * v + np.float32(dt) * total).astype(np.float32)
        spiked = (v < vthres) & (vnext >= vthres)
        raster[k] = spiked
        jump = np.zeros(n, np.float32)
        for p, (weight, delay, mask, part) in enumerate(projections):
            pre = spikes_in[k] >= 0 if part == "inputs" else spiked
            for i in np.flatnonzero(pre):
                for j in range(n):
                    if mask is None or mask[i, j]:
                        arrival = k + int(np.round(delay[i, j] / dt))
                        pending[p].setdefault((i, j), []).append(arrival)
            for (i, j), arrivals in pending[p].items():
                due = [a for a in arrivals if a == k]
                jump[j] += weight[i, j] * len(due)
                arrivals[:] = [a for a in arrivals if a != k]
        isyn = (alpha * isyn + jump).astype(np.float32)
        v = vnext
    return {"spikes": raster}


@pytest.mark.parametrize("arrangement", ["per_synapse", "per_neuron"])
def test_matches_plain_reference_model(arrangement):
    net, params = small_network(
        jax.random.key(3), arrangement, queue="ring", capacity=None, history=8
    )
    drive = small_drive(jax.random.key(4))
    result = simulate(net, params, drive)
    expected = reference(net, params, drive)
    assert 20 < int(result.spikes.sum()) < N * STEPS / 4
    np.testing.assert_array_equal(np.asarray(result.spikes), expected["spikes"])
    assert int(result.dropped.sum()) == 0


LOSSLESS = [
    ("ring", None),
    ("fifo_ring", 8),
    ("sorted_array", 8),
    ("binary_heap", 8),
    ("bgpq1", None),
]


@pytest.mark.parametrize(("kind", "capacity"), LOSSLESS)
def test_per_neuron_equals_per_synapse(kind, capacity):
    key, drive_key = jax.random.split(jax.random.key(11))
    drive = small_drive(drive_key)
    net_a, params = small_network(key, "per_synapse", kind, capacity)
    net_b = dataclasses.replace(net_a, arrangement="per_neuron", queue=None, history=8)
    a, b = simulate(net_a, params, drive), simulate(net_b, params, drive)
    assert int(a.spikes.sum()) > 20
    assert int(a.dropped.sum()) == 0 and int(b.dropped.sum()) == 0
    for field in ("spikes", "voltage", "current", "pending", "first_spike_ms"):
        np.testing.assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), spread=st.floats(0.0, 1.0))
def test_arrangements_agree_on_random_networks(seed, spread):
    key, drive_key = jax.random.split(jax.random.key(seed))
    net_a, params = small_network(key, "per_synapse", "sorted_array", 8, delay_spread_ms=spread)
    net_b = dataclasses.replace(net_a, arrangement="per_neuron", queue=None, history=8)
    drive = small_drive(drive_key)
    a, b = simulate(net_a, params, drive), simulate(net_b, params, drive)
    if int(a.dropped.sum()) == 0:
        np.testing.assert_array_equal(np.asarray(a.spikes), np.asarray(b.spikes))
        np.testing.assert_array_equal(np.asarray(a.pending), np.asarray(b.pending))


def test_overflow_is_counted_in_both_arrangements():
    key, drive_key = jax.random.split(jax.random.key(5))
    drive = small_drive(drive_key, rate_hz=600.0)
    net_a, params = small_network(
        key, "per_synapse", "fifo_ring", 1, delay_ms=2.0, delay_spread_ms=0.2
    )
    net_b = dataclasses.replace(net_a, arrangement="per_neuron", queue=None, history=1)
    a, b = simulate(net_a, params, drive), simulate(net_b, params, drive)
    assert int(a.dropped.sum()) > 0
    assert int(b.dropped.sum()) > 0
    assert np.all(
        np.asarray(a.pending)
        <= np.asarray(net_a.input_mask).sum() + np.asarray(net_a.recurrent_mask).sum()
    )


def test_pending_counts_events_in_flight():
    """One input spike at step 0 through 3 synapses with delays of 2, 5 and 5 steps."""
    delays = jnp.array([[0.2, 0.5, 0.5]])
    net, params = network.build_network(
        jax.random.key(0),
        3,
        n_inputs=1,
        recurrent=False,
        input_weight_scale=0.01,
        input_delay_ms=delays,
        max_delay_ms=1.0,
        dt_ms=DT,
        arrangement="per_neuron",
    )
    drive = inputs.Drive(spikes_ms=inputs.spikes_from_times([[0.0]], 10, DT))
    for arrangement in ("per_neuron", "per_synapse"):
        net = dataclasses.replace(net, arrangement=arrangement, queue=queues.get("ring"))
        result = simulate(net, params, drive)
        np.testing.assert_array_equal(np.asarray(result.pending), [3, 3, 2, 2, 2, 0, 0, 0, 0, 0])
        # arrivals in steps 2 and 5 move the current seen from steps 3 and 6 on
        assert np.flatnonzero(np.asarray(result.current[:, 0]))[0] == 3
        assert np.flatnonzero(np.asarray(result.current[:, 1]))[0] == 6


def test_continuing_a_run_equals_one_long_run():
    key, drive_key = jax.random.split(jax.random.key(2))
    net, params = small_network(key, "per_synapse", "fifo_ring", 4)
    drive = small_drive(drive_key)
    whole = simulate(net, params, drive)
    half = STEPS // 2
    first = simulate(net, params, jax.tree.map(lambda x: x[:half], drive))
    second = simulate(net, params, jax.tree.map(lambda x: x[half:], drive), state=first.state)
    joined = np.concatenate([np.asarray(first.spikes), np.asarray(second.spikes)])
    np.testing.assert_array_equal(joined, np.asarray(whole.spikes))
    np.testing.assert_array_equal(np.asarray(second.state.v), np.asarray(whole.state.v))


def test_vmap_over_seeds_equals_single_runs():
    keys = jax.random.split(jax.random.key(7), 3)
    build = lambda k: small_network(k, "per_neuron", history=4)  # noqa: E731
    nets, params = jax.vmap(build)(keys)
    drives = jax.vmap(small_drive)(keys)
    batched = jax.jit(jax.vmap(network.simulate))(nets, params, drives)
    for index, key in enumerate(keys):
        net, p = build(key)
        single = simulate(net, p, small_drive(key))
        np.testing.assert_array_equal(np.asarray(batched.spikes[index]), np.asarray(single.spikes))
        np.testing.assert_array_equal(
            np.asarray(batched.voltage[index]), np.asarray(single.voltage)
        )


def test_first_spike_time_and_spike_times():
    key, drive_key = jax.random.split(jax.random.key(8))
    net, params = small_network(key, "per_neuron", history=4)
    result = simulate(net, params, small_drive(drive_key))
    raster = np.asarray(result.spikes)
    for j in range(N):
        steps = np.flatnonzero(raster[:, j])
        expected = steps[0] * np.float32(DT) if steps.size else -1.0
        assert float(result.first_spike_ms[j]) == pytest.approx(expected, abs=1e-6)
    neurons, times = result.spike_times()
    assert len(neurons) == raster.sum()
    assert np.all(np.diff(times) >= 0)


def test_recorded_voltages_are_a_subset():
    key, drive_key = jax.random.split(jax.random.key(9))
    net, params = small_network(key, "per_neuron")
    drive = small_drive(drive_key)
    full = simulate(net, params, drive)
    some = simulate(dataclasses.replace(net, record_voltage=(0, 7)), params, drive)
    np.testing.assert_array_equal(np.asarray(some.voltage), np.asarray(full.voltage)[:, [0, 7]])


@pytest.mark.parametrize("arrangement", ["per_synapse", "per_neuron"])
def test_forcing_a_network_with_its_own_spikes_reproduces_its_run(arrangement):
    key, drive_key = jax.random.split(jax.random.key(12))
    net, params = small_network(key, arrangement)
    drive = small_drive(drive_key)
    free = simulate(net, params, drive)
    assert np.asarray(free.spikes).sum() > 20
    forced = simulate(net, params, dataclasses.replace(drive, forced_spikes=free.spikes))
    for field in ("spikes", "spike_ms", "voltage", "current"):
        np.testing.assert_array_equal(
            np.asarray(getattr(forced, field)), np.asarray(getattr(free, field)), err_msg=field
        )


def test_forced_spikes_replace_the_threshold_and_carry_no_tangent():
    net = network.Network(
        n_neurons=2, n_inputs=1, recurrent=False, dt_ms=DT, arrangement="per_neuron", history=1
    ).validate()
    params = network.NetworkParams(
        input_weight=jnp.zeros((1, 2)),
        input_delay_ms=jnp.zeros((1, 2)),
        vthres=jnp.float32(1.0),
        tau_mem_ms=jnp.float32(2.0),
    )
    steps = 200
    forced = jnp.zeros((steps, 2), bool).at[50, 1].set(True)

    def run(amplitude):
        current = inputs.constant_current(steps, 2, amplitude, DT)
        return network.simulate(net, params, inputs.Drive(current=current, forced_spikes=forced))

    result = run(1.0)  # free steady state 2.0: far above threshold
    voltage = np.asarray(result.voltage)
    assert voltage[:, 0].max() > 1.9 and np.all(np.diff(voltage[:, 0]) > 0)  # never reset
    np.testing.assert_array_equal(np.asarray(result.spikes), np.asarray(forced))
    # a spike in step 50 (crossing between t_50 and t_51) resets in step 51: v(t_52) = 0
    assert voltage[52, 1] == 0.0 and voltage[51, 1] > 1.0
    np.testing.assert_array_equal(voltage[:52, 1], voltage[:52, 0])
    spike_dot = jax.jacfwd(lambda a: run(a).spike_ms)(1.0)
    voltage_dot = np.asarray(jax.jacfwd(lambda a: run(a).voltage)(1.0))
    np.testing.assert_array_equal(np.asarray(spike_dot), 0.0)
    assert np.all(voltage_dot[1:, 0] > 0) and voltage_dot[52, 1] == 0.0


def test_adex_network_arrangements_agree():
    key, drive_key = jax.random.split(jax.random.key(12))
    net_a, params = small_network(
        key, "per_synapse", "ring", None, neuron="adex", weight_scale=0.3, input_weight_scale=3.0
    )
    net_b = dataclasses.replace(net_a, arrangement="per_neuron", queue=None, history=8)
    drive = inputs.Drive(
        current=jnp.full((STEPS, N), 0.5),
        spikes_ms=inputs.poisson_spikes(drive_key, 200.0, STEPS, N_IN, DT),
    )
    a, b = simulate(net_a, params, drive), simulate(net_b, params, drive)
    assert int(a.spikes.sum()) > 0
    assert float(a.voltage.min()) < -60  # mV: AdEx rests near E_L
    np.testing.assert_array_equal(np.asarray(a.spikes), np.asarray(b.spikes))
    with pytest.raises(ValueError, match="teacher forcing.*LIF"):
        network.simulate(net_a, params, dataclasses.replace(drive, forced_spikes=a.spikes))


def test_simulate_chain_feeds_spike_times_forward():
    key1, key2, drive_key = jax.random.split(jax.random.key(13), 3)
    feedforward = dict(
        recurrent=False,
        input_weight_scale=3.0,
        delay_ms=0.5,
        delay_spread_ms=0.2,
        max_delay_ms=1.0,
        dt_ms=DT,
        arrangement="per_neuron",
    )
    layer1 = network.build_network(key1, 8, n_inputs=N_IN, **feedforward)
    layer2 = network.build_network(key2, 3, n_inputs=8, **feedforward)
    drive = inputs.Drive(spikes_ms=inputs.poisson_spikes(drive_key, 300.0, 200, N_IN, DT))
    first, second = network.simulate_chain([layer1, layer2], drive)
    assert int(first.spikes.sum()) > 0 and int(second.spikes.sum()) > 0
    direct = network.simulate(*layer2, inputs.Drive(spikes_ms=first.spike_ms))
    np.testing.assert_array_equal(np.asarray(direct.spikes), np.asarray(second.spikes))


def test_traced_delays_are_clamped_and_counted():
    key, drive_key = jax.random.split(jax.random.key(14))
    net, params = small_network(key, "per_neuron")
    drive = small_drive(drive_key)

    def run(shift):
        shifted = dataclasses.replace(params, recurrent_delay_ms=params.recurrent_delay_ms + shift)
        return network.simulate(net, shifted, drive)

    result = jax.jit(run)(jnp.float32(10.0))
    assert int(result.clamped_delays) == int(np.asarray(net.recurrent_mask).sum())
    beyond = jax.jit(run)(jnp.float32(0.0))
    assert int(beyond.clamped_delays) == 0


def test_delay_rounding_is_half_to_even_per_synapse():
    """Delays of 0.5 and 1.5 steps (dt 0.125 ms, exact in binary) round to 0 and 2 steps."""
    net, params = network.build_network(
        jax.random.key(0),
        2,
        n_inputs=1,
        recurrent=False,
        input_weight_scale=0.01,
        input_delay_ms=jnp.array([[0.0625, 0.1875]]),
        max_delay_ms=0.25,
        dt_ms=0.125,
        arrangement="per_neuron",
    )
    drive = inputs.Drive(spikes_ms=inputs.spikes_from_times([[0.0]], 6, 0.125))
    current = np.asarray(simulate(net, params, drive).current)
    assert np.flatnonzero(current[:, 0])[0] == 1  # arrival in step 0, seen from step 1
    assert np.flatnonzero(current[:, 1])[0] == 3


class TestValidation:
    def setup_method(self):
        self.net, self.params = small_network(jax.random.key(0), "per_neuron")
        self.drive = small_drive(jax.random.key(1), steps=20)

    def test_weight_shape_names_argument(self):
        bad = dataclasses.replace(self.params, recurrent_weight=jnp.zeros((N, N + 1)))
        with pytest.raises(ValueError, match=r"params.recurrent_weight must have shape \(12, 12\)"):
            network.simulate(self.net, bad, self.drive)

    def test_drive_shapes(self):
        with pytest.raises(ValueError, match=r"drive.current must have shape \(T, 12\)"):
            network.simulate(self.net, self.params, inputs.Drive(current=jnp.zeros((20, 3))))
        with pytest.raises(ValueError, match=r"drive.spikes_ms must have shape \(T, 5\)"):
            network.simulate(self.net, self.params, inputs.Drive(spikes_ms=jnp.zeros((20, 4))))
        with pytest.raises(ValueError, match="disagrees"):
            network.simulate(self.net, self.params, self.drive, steps=21)
        with pytest.raises(ValueError, match="give steps"):
            network.simulate(self.net, self.params)
        for forced in (jnp.zeros((20, N - 1), bool), jnp.zeros((20, N))):
            with pytest.raises(ValueError, match=r"drive.forced_spikes must be bool with shape"):
                network.simulate(
                    self.net, self.params, dataclasses.replace(self.drive, forced_spikes=forced)
                )

    @pytest.mark.parametrize("delay", [-0.1, 2.6])
    def test_concrete_delay_outside_range(self, delay):
        bad = dataclasses.replace(
            self.params, input_delay_ms=self.params.input_delay_ms.at[0, 0].set(delay)
        )
        with pytest.raises(
            ValueError, match=r"params.input_delay_ms: delays must lie in \[0, 2.5\]"
        ):
            network.simulate(self.net, bad, self.drive)

    @pytest.mark.parametrize("field", ["tau_syn_ms", "tau_mem_ms"])
    @pytest.mark.parametrize("value", [0.0, -1.0])
    def test_non_positive_time_constants(self, field, value):
        bad = dataclasses.replace(self.params, **{field: jnp.float32(value)})
        with pytest.raises(ValueError, match=f"params.{field} must be > 0"):
            network.simulate(self.net, bad, self.drive)

    @pytest.mark.parametrize("dt", [0.0, -0.1, float("nan")])
    def test_non_positive_dt(self, dt):
        with pytest.raises(ValueError, match="dt_ms must be a positive number"):
            dataclasses.replace(self.net, dt_ms=dt).validate()
        with pytest.raises(ValueError, match="dt_ms must be a positive number"):
            small_network(jax.random.key(0), dt_ms=dt)

    def test_settings(self):
        with pytest.raises(ValueError, match="arrangement must be one of"):
            dataclasses.replace(self.net, arrangement="dense").validate()
        with pytest.raises(ValueError, match="needs queue"):
            dataclasses.replace(self.net, arrangement="per_synapse").validate()
        with pytest.raises(ValueError, match="max_delay_steps"):
            small_network(jax.random.key(0), queue="bit_array32", capacity=None, max_delay_ms=5.0)
        with pytest.raises(ValueError, match="record_voltage"):
            dataclasses.replace(self.net, record_voltage=(12,)).validate()
        with pytest.raises(ValueError, match="history must be an integer >= 1"):
            dataclasses.replace(self.net, history=0).validate()
        with pytest.raises(ValueError, match="params.adex"):
            network.simulate(dataclasses.replace(self.net, neuron="adex"), self.params, self.drive)

    def test_missing_and_extra_parts(self):
        with pytest.raises(ValueError, match="params.recurrent_weight is required"):
            network.simulate(
                self.net, dataclasses.replace(self.params, recurrent_weight=None), self.drive
            )
        feedforward = dataclasses.replace(self.net, recurrent=False, recurrent_mask=None)
        with pytest.raises(ValueError, match="no recurrent synapses"):
            network.simulate(feedforward, self.params, self.drive)


def test_bit_array32_runs_short_delays():
    net, params = small_network(
        jax.random.key(1), "per_synapse", "bit_array32", None, max_delay_ms=3.0, delay_ms=1.0
    )
    assert net.max_delay_steps == 30
    result = simulate(net, params, small_drive(jax.random.key(2)))
    reference_net = dataclasses.replace(net, queue=queues.get("ring"))
    expected = simulate(reference_net, params, small_drive(jax.random.key(2)))
    np.testing.assert_array_equal(np.asarray(result.spikes), np.asarray(expected.spikes))


def test_adex_params_default_when_built():
    net, params = small_network(jax.random.key(1), "per_neuron", neuron="adex")
    assert isinstance(params.adex, AdExParams)
    state = network.init_state(net, params)
    assert float(state.v[0]) == pytest.approx(-70.6)
