"""Jaxley bridge: the seed's example (two HH cells) with forward = reverse = finite-difference
delay gradients and a short optax loop; the synaptic current against a plain Python reference of
the documented timing for several queue kinds; the delay boundaries jaxley's API imposes."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

jx = pytest.importorskip("jaxley")
from jaxley.channels import HH  # noqa: E402

import adseq_lab.bridges.jaxley_bridge as adseq  # noqa: E402
from adseq_lab.bridges.jaxley_bridge import DelaySynapse  # noqa: E402
from adseq_lab.implementations import BitArray32, Ring, SingleSpike  # noqa: E402

DT = 0.025

pytestmark = [  # jaxley's own pandas usage
    pytest.mark.filterwarnings("ignore::pandas.errors.PerformanceWarning"),
    pytest.mark.filterwarnings("ignore:The 'lsuffix' and 'rsuffix' keywords"),
]


def hh_cell():
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=1), parents=[-1])
    cell.insert(HH())
    return cell


def spike_samples(v, vthres):
    """Recording indices k >= 1 of the first sample at or above ``vthres``."""
    v = np.asarray(v)
    return list(np.nonzero((v[:-1] < vthres) & (v[1:] >= vthres))[0] + 1)


# --- the seed's example ---------------------------------------------------------------------

T_MAX = 20.0


@pytest.fixture(scope="module")
def seed_example():
    """The seed README's Jaxley example; its elided parts (``[...]``) filled with a stimulated
    presynaptic cell, recordings and resting initial states."""
    cell = hh_cell()
    # --- as written in the seed README (``adseq`` is adseq_lab's bridge) ---
    net = jx.Network([cell, cell])
    jx.connect(
        net.cell(0).branch(0).loc(0.0),
        net.cell(1).branch(0).loc(0.0),
        adseq.DelaySynapse(vthres=10.0),
    )
    net.set("DelaySynapse_delay", 10.0)
    net.set("DelaySynapse_weight", 0.05)
    net.make_trainable("DelaySynapse_delay", verbose=False)
    # --- elided in the README ---
    net.set("v", -65.0)
    net.init_states(delta_t=DT)
    net.cell(0).branch(0).comp(0).stimulate(
        jx.step_current(i_delay=1.0, i_dur=1.0, i_amp=0.05, delta_t=DT, t_max=T_MAX),
        verbose=False,
    )
    net.cell(0).branch(0).comp(0).record("v", verbose=False)
    net.cell(1).branch(0).comp(0).record("v", verbose=False)
    # --- as written ---
    parameters = net.get_parameters()
    transform = jx.ParamTransform(
        [
            {"DelaySynapse_delay": jx.optimize.transforms.SigmoidTransform(0.1, 50.0)},
        ]
    )

    def loss(opt_params):
        s = jx.integrate(net, delta_t=DT, params=transform.forward(opt_params))
        t = jnp.linspace(0, 1, s.shape[1])
        conv = jnp.exp(-10 * (t - 0.7) ** 2)  # move spike towards 70% of simulation time
        return -(s[1] * conv).mean()

    def value_and_gradients(opt_params):
        """The loss, its forward-mode (the README's ``jax.jacfwd``) and reverse-mode gradient."""
        return loss(opt_params), jax.jacfwd(loss)(opt_params), jax.grad(loss)(opt_params)

    return {
        "parameters": parameters,
        "transform": transform,
        "value_and_gradients": jax.jit(value_and_gradients),
        "simulate": jax.jit(lambda p: jx.integrate(net, delta_t=DT, params=transform.forward(p))),
    }


def seed_loss(recordings):
    """The README's loss, from recordings (NumPy)."""
    t = np.linspace(0, 1, recordings.shape[1])
    return -np.mean(np.asarray(recordings[1]) * np.exp(-10 * (t - 0.7) ** 2))


def post_spike_ms(seed_example, opt_params):
    v = seed_example["simulate"](opt_params)
    spikes = spike_samples(v[1], 0.0)
    assert len(spikes) == 1
    return spikes[0] * DT


def test_seed_example_optax_loop_moves_the_spike_to_the_target(seed_example):
    transform = seed_example["transform"]
    opt_params = transform.inverse(seed_example["parameters"])
    target_ms = 0.7 * T_MAX
    start_ms = post_spike_ms(seed_example, opt_params)
    pre = spike_samples(seed_example["simulate"](opt_params)[0], 0.0)
    assert len(pre) == 1 and start_ms > pre[0] * DT + 10.0  # arrives after the 10 ms delay
    assert start_ms < target_ms - 1.0

    optimizer = optax.adam(0.05)
    opt_state = optimizer.init(opt_params)
    losses = []
    for _ in range(5):
        value, gradient, _ = seed_example["value_and_gradients"](opt_params)
        updates, opt_state = optimizer.update(gradient, opt_state)
        opt_params = optax.apply_updates(opt_params, updates)
        losses.append(float(value))
    end_ms = post_spike_ms(seed_example, opt_params)
    assert abs(end_ms - target_ms) < 0.5 * abs(start_ms - target_ms)
    assert losses[-1] < losses[0]


def test_seed_example_delay_gradient_forward_reverse_finite_differences(seed_example):
    transform = seed_example["transform"]
    opt_params = transform.inverse(seed_example["parameters"])
    value, forward, reverse = seed_example["value_and_gradients"](opt_params)
    forward = float(forward[0]["DelaySynapse_delay"][0])
    reverse = float(reverse[0]["DelaySynapse_delay"][0])
    # float32 through 800 Hodgkin-Huxley steps: agreement to rounding (1e-7 with float64)
    assert forward == pytest.approx(reverse, rel=5e-3)
    assert forward < 0  # a longer delay moves the spike towards the target
    assert seed_loss(seed_example["simulate"](opt_params)) == pytest.approx(float(value))

    # finite differences in delay space, 10 steps either side (the loss is a staircase with
    # dt-sized steps; a difference over whole steps measures its slope), against the reverse
    # gradient taken back through the sigmoid: d delay / d raw = 49.9 y (1 - y)
    def loss_at(delay_ms):
        raw = transform.inverse([{"DelaySynapse_delay": jnp.array([delay_ms])}])
        return seed_loss(seed_example["simulate"](raw))

    h = 10 * DT
    central = (loss_at(10.0 + h) - loss_at(10.0 - h)) / (2 * h)
    y = (10.0 - 0.1) / 49.9
    assert central == pytest.approx(reverse / (49.9 * y * (1 - y)), rel=0.05)


# --- the synaptic current against a reference model -----------------------------------------


def reference_current(v_pre, vthres, delay_ms, weight, kind, tau1=0.5, tau2=2.0):
    """Recorded ``i_<name>`` (index 0 = initial state; index j + 1 after step j) of the
    documented timing: a spike seen at step k arrives at step ``k + round(delay / dt)``, both
    exponentials jump there. ``kind``: ``"fifo"`` keeps every event, ``"single"`` keeps the
    latest (a newer spike replaces the pending one). Returns ``(current, dropped)``."""
    t_peak = tau1 * tau2 / (tau2 - tau1) * math.log(tau2 / tau1)
    denom = math.exp(-t_peak / tau2) - math.exp(-t_peak / tau1)
    spikes = set(spike_samples(v_pre, vthres))
    pending, dropped, isyn1, isyn2, out = [], 0, 0.0, 0.0, [0.0]
    for step in range(len(v_pre) - 1):
        if step in spikes:
            if kind == "single" and pending:
                pending, dropped = [], dropped + 1
            pending.append(step + round(delay_ms / DT))
        hits = sum(1 for a in pending if a <= step)
        pending = [a for a in pending if a > step]
        isyn1 = math.exp(-DT / tau1) * isyn1 + hits
        isyn2 = math.exp(-DT / tau2) * isyn2 + hits
        out.append(-weight * (isyn2 - isyn1) / denom)
    return np.array(out), dropped


SYNAPSE_TYPES = {
    "Fifo": dict(max_delay_ms=15.0),
    "Single": dict(queue=SingleSpike, max_delay_ms=15.0),
    "Clamp": dict(queue=Ring, max_delay_ms=0.5, dt_ms=DT),
}
EDGES = [
    # (synapse type, delay ms, reference kind): one post cell each
    ("Fifo", 0.0, "fifo"),  # the shortest delay
    ("Fifo", 14.9, "fifo"),  # the same type, its own delay, several spikes in flight
    ("Single", 14.9, "single"),
    ("Clamp", 0.5, "fifo"),  # given 3 ms while traced: clamped to its max_delay_ms
]
CLAMPED_DELAY_MS = 3.0


@pytest.fixture(scope="module")
def multi_spike_run():
    """A repetitively firing HH cell driving one post cell per edge, plus a control cell
    without input (the last); the "Clamp" delay passed traced, beyond its maximum."""
    t_max, vthres = 30.0, 0.0
    n_cells = len(EDGES) + 2
    net = jx.Network([hh_cell() for _ in range(n_cells)])
    types = {name: DelaySynapse(name, vthres=vthres, **o) for name, o in SYNAPSE_TYPES.items()}
    for index, (name, _, _) in enumerate(EDGES):
        jx.connect(
            net.cell(0).branch(0).loc(0.0), net.cell(index + 1).branch(0).loc(0.0), types[name]
        )
    for index, (name, delay, _) in enumerate(EDGES):
        net.select(edges=[index]).set(f"{name}_delay", delay)
        net.select(edges=[index]).set(f"{name}_weight", 0.02)
    net.set("v", -65.0)
    net.init_states(delta_t=DT)
    net.cell(0).branch(0).comp(0).stimulate(
        jx.step_current(i_delay=1.0, i_dur=25.0, i_amp=0.02, delta_t=DT, t_max=t_max),
        verbose=False,
    )
    for index in range(n_cells):
        net.cell(index).branch(0).comp(0).record("v", verbose=False)
    for index, (name, _, _) in enumerate(EDGES):  # recorded after the voltages
        net.select(edges=[index]).record(f"i_{name}", verbose=False)
    net.select(edges=[3]).make_trainable("Clamp_delay", verbose=False)
    run = jax.jit(lambda params: jx.integrate(net, params=params, delta_t=DT, return_states=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recordings, states = run([{"Clamp_delay": jnp.array([CLAMPED_DELAY_MS])}])
    recordings = np.asarray(recordings)
    voltages, currents = recordings[:n_cells], recordings[n_cells:]
    return net, voltages, currents, states


def _edge_delay(name, delay):
    return min(delay, SYNAPSE_TYPES[name]["max_delay_ms"])


def test_current_matches_reference_for_each_queue_kind(multi_spike_run):
    _, voltages, currents, states = multi_spike_run
    v_pre = voltages[0]
    assert len(spike_samples(v_pre, 0.0)) == 3  # spikes at about 2, 12.7 and 22.8 ms
    dropped = {name: [] for name in SYNAPSE_TYPES}
    for index, (name, delay, kind) in enumerate(EDGES):
        expected, lost = reference_current(v_pre, 0.0, _edge_delay(name, delay), 0.02, kind)
        np.testing.assert_allclose(currents[index], expected, atol=1e-6, rtol=1e-4)
        dropped[name].append(lost)
    for name, lost in dropped.items():
        np.testing.assert_array_equal(states[f"{name}_queue_dropped"], lost)
    # each spike came before the previous one arrived: FIFORing delivered them all, SingleSpike
    # replaced the pending spike twice and delivered none within the 30 ms
    np.testing.assert_array_equal(states["Fifo_queue_dropped"], [0, 0])
    np.testing.assert_array_equal(states["Single_queue_dropped"], [2])
    assert not np.any(currents[2])


def test_delay_boundaries(multi_spike_run):
    """Delay 0 is the minimum jaxley allows: the current of a spike seen at sample k jumps in
    step k and, being a difference of exponentials, is first nonzero (and first moves the
    postsynaptic voltage) at index k + 2; each delay step adds one. A traced delay above
    max_delay_ms is clamped to it and every spike sent with it is counted."""
    _, voltages, currents, states = multi_spike_run
    first_spike = spike_samples(voltages[0], 0.0)[0]
    control = voltages[-1]
    for index, (name, delay, _) in enumerate(EDGES):
        if name == "Single":  # delivered nothing (see above)
            continue
        expected = first_spike + round(_edge_delay(name, delay) / DT) + 2
        assert int(np.argmax(currents[index] != 0)) == expected
        assert int(np.nonzero(voltages[index + 1] != control)[0][0]) == expected
    np.testing.assert_array_equal(states["Clamp_clamped"], [3])  # all three spikes
    np.testing.assert_array_equal(states["Fifo_clamped"], [0, 0])


def test_concrete_delay_beyond_max_and_bad_settings_raise(multi_spike_run):
    net = multi_spike_run[0]
    with pytest.raises(ValueError, match=r"Clamp_delay must lie in \[0, 0.5\] ms"):
        jx.integrate(net, params=[{"Clamp_delay": jnp.array([3.0])}], delta_t=DT, t_max=1.0)
    with pytest.raises(ValueError, match="delta_t=0.05 but this DelaySynapse was built with"):
        jx.integrate(net, params=[{"Clamp_delay": jnp.array([0.25])}], delta_t=0.05, t_max=1.0)
    with pytest.raises(ValueError, match="carries no gradients"):
        DelaySynapse(queue=BitArray32)
    with pytest.raises(ValueError, match="pass dt_ms"):
        DelaySynapse(queue=Ring)
    with pytest.raises(ValueError, match="MAX_QUEUE_STATES=256"):
        DelaySynapse(queue=Ring, max_delay_ms=50.0, dt_ms=DT)
    with pytest.raises(ValueError, match="vthres must be a finite number"):
        DelaySynapse(vthres=float("nan"))
    # the largest Ring that fits: 2 * (slots) + 2 counters <= 256 states
    DelaySynapse(queue=Ring, max_delay_ms=126 * DT, dt_ms=DT)
    with pytest.raises(ValueError, match="needs 258 jaxley states"):
        DelaySynapse(queue=Ring, max_delay_ms=127 * DT, dt_ms=DT)


def test_names_and_states_follow_jaxley_conventions():
    synapse = DelaySynapse("Syn", vthres=-20.0)
    assert set(synapse.synapse_params) == {"Syn_delay", "Syn_weight", "Syn_tau1", "Syn_tau2"}
    assert {"Syn_vprev", "Syn_step", "Syn_isyn1", "Syn_isyn2", "Syn_clamped"} <= set(
        synapse.synapse_states
    )
    assert [k for k in synapse.synapse_states if "arrival" in k] == [
        f"Syn_queue_arrival_step{j}" for j in range(4)
    ]
    renamed = synapse.change_name("Other")
    assert all(key.startswith("Other_") for key in renamed.synapse_states)


def test_synapse_step_under_float64_keeps_dtypes_and_tangents():
    """jaxley users often enable float64 (adseq 0.9.4's bridge forced it for the whole process):
    the queue stays float32 inside, states keep jaxley's dtype, and a spike sent with delay 0
    jumps both currents with tangent 1 / tau per ms of delay, in both modes."""
    synapse = DelaySynapse(vthres=0.0)
    with jax.enable_x64(True):
        states = {k: jnp.full(2, v, jnp.float64) for k, v in synapse.synapse_states.items()}
        states["DelaySynapse_step"] = jnp.full(2, 5.0)
        states["DelaySynapse_vprev"] = jnp.array([-1.0, 1.0])  # the first synapse crosses
        params = {k: jnp.full(2, v, jnp.float64) for k, v in synapse.synapse_params.items()}

        def currents(delay):
            new = synapse.update_states(
                states,
                DT,
                jnp.array([1.0, 2.0]),
                jnp.zeros(2),
                {**params, "DelaySynapse_delay": delay},
            )
            return jnp.stack([new["DelaySynapse_isyn1"], new["DelaySynapse_isyn2"]])

        out, forward, reverse = jax.jit(
            lambda d: (currents(d), jax.jacfwd(currents)(d), jax.jacrev(currents)(d))
        )(jnp.zeros(2))
        assert out.dtype == jnp.float64
        np.testing.assert_array_equal(out, [[1.0, 0.0], [1.0, 0.0]])
        np.testing.assert_allclose(forward, reverse)
        np.testing.assert_allclose(forward[:, 0, 0], [1 / 0.5, 1 / 2.0])
        assert not np.any(forward[:, 1])
