"""Seed-compatible synapses: docstring examples, a reference model, gradients, validation and the
delay defects other simulators have (rounding, max delay, resets, per-synapse delays)."""

from __future__ import annotations

import contextlib
import doctest
import functools
import io
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.ad_checkpoint import print_saved_residuals

import adseq_lab.synapse
import adseq_lab.synapse2
from adseq_lab import queues
from adseq_lab.implementations import BitArray32, FIFORing, Ring, SingleSpike, SortedArray
from adseq_lab.spikes import crossing, spike_detect, time_to_step
from adseq_lab.synapse import mk_synapse, mk_synapses
from adseq_lab.synapse2 import mk_synapse2, mk_synapse2s, peak_normaliser

DT = 0.1


def queue_type(name: str, capacity: int = 4):
    return queues.get(name, capacity if queues.info(name).has_capacity else None)


LOSSLESS = [name for name in queues.names() if queues.info(name).lossless]
# every kind that carries tangents and holds at least one event
GRAD_KINDS = [n for n in queues.names() if queues.info(n).supports_grad and n != "do_nothing"]


def grad_flag(name: str) -> bool:
    return queues.info(name).supports_grad


def reference_isyn(spikes, delay_steps, steps, tau, dt=DT):
    """Exponential currents from spikes ``(steps, n)`` arriving ``delay_steps (n,)`` later."""
    alpha = math.exp(-dt / tau)
    isyn = np.zeros((steps, spikes.shape[1]))
    for k, j in zip(*np.nonzero(spikes), strict=True):
        arrival = k + delay_steps[j]
        if arrival < steps:
            isyn[arrival:, j] += alpha ** np.arange(steps - arrival)
    return isyn


def run_static(syn, spikes, dt=DT):
    """Drive ``syn`` with spike rows ``(steps, n)`` through timestep_static_spike; isyn trace."""

    def step(syn, inputs):
        k, s = inputs
        syn = syn.timestep_static_spike(k * dt, s)
        return syn, syn.isyn

    steps = spikes.shape[0]
    return jax.lax.scan(step, syn, (jnp.arange(steps), jnp.asarray(spikes)))


# ---------------------------------------------------------------- the seed's docstring examples


@pytest.mark.parametrize("module", [adseq_lab.synapse, adseq_lab.synapse2])
def test_docstring_examples(module):
    """mk_synapse: 0.0, 1.0, 0.9048374 and mk_synapse2: 0.0, 0.0, 0.12228451 (as adseq 0.9.4
    prints), then 0.7705642 one millisecond after arrival."""
    result = doctest.testmod(module, raise_on_error=False, verbose=False)
    assert result.attempted >= 10
    assert result.failed == 0


def test_double_exponential_matches_closed_form_and_peaks_at_one():
    tau1, tau2, steps = 1.0, 10.0, 120
    syn = mk_synapse2s(
        Ring, dt_ms=DT, vthres=1.0, tau_syn1_ms=tau1, tau_syn2_ms=tau2, n=1, delay_ms=0.0
    )
    spikes = np.zeros((steps, 1), bool)
    spikes[0] = True

    def step(syn, inputs):
        k, s = inputs
        syn = syn.timestep_static_spike(k * DT, s)
        return syn, syn.isyn

    _, isyn = jax.lax.scan(step, syn, (jnp.arange(steps), jnp.asarray(spikes)))
    t = np.arange(steps) * DT
    denom = np.exp(-(t_peak := tau1 * tau2 / (tau2 - tau1) * np.log(tau2 / tau1)) / tau2) - np.exp(
        -t_peak / tau1
    )
    expected = (np.exp(-t / tau2) - np.exp(-t / tau1)) / denom
    np.testing.assert_allclose(np.asarray(isyn[:, 0]), expected, atol=2e-6)
    assert abs(float(np.max(isyn)) - 1.0) < 2e-3  # the grid's peak is within a step of t_peak
    assert float(peak_normaliser(jnp.float32(tau1), jnp.float32(tau2))) == pytest.approx(denom)


# ---------------------------------------------------------------- reference model, every kind

REF_STEPS, REF_N, REF_MAX_STEPS = 40, 4, 6


def _reference_runner(name: str):
    Q = queue_type(name)

    @jax.jit
    def run(spikes, delays):
        syn = mk_synapses(
            Q,
            delay_ms=delays,
            dt_ms=DT,
            vthres=1.0,
            tau_syn_ms=2.0,
            n=REF_N,
            max_delay_ms=REF_MAX_STEPS * DT,
            grad=grad_flag(name),
        )
        syn, isyn = run_static(syn, spikes)
        return isyn, syn.dropped, syn.clamped, syn.pending

    return run


@pytest.mark.parametrize("name", LOSSLESS)
def test_lossless_kinds_match_reference_model(name):
    """Random spike trains (at most one spike per two steps, so 4 slots hold every event in
    flight), one delay per synapse with a random sub-step offset: every lossless kind delivers
    each spike exactly ``round(delay / dt)`` steps later (never truncated), dropping nothing."""
    run = _reference_runner(name)
    half = REF_STEPS // 2

    @settings(max_examples=12, deadline=None, derandomize=True)
    @given(
        trains=st.lists(st.booleans(), min_size=half * REF_N, max_size=half * REF_N),
        phases=st.lists(st.integers(0, 1), min_size=REF_N, max_size=REF_N),
        steps=st.lists(st.integers(0, REF_MAX_STEPS), min_size=REF_N, max_size=REF_N),
        offsets=st.lists(st.floats(-0.4, 0.4), min_size=REF_N, max_size=REF_N),
    )
    def check(trains, phases, steps, offsets):
        spikes = np.zeros((REF_STEPS, REF_N), bool)
        for j in range(REF_N):
            spikes[phases[j] :: 2, j] = np.array(trains).reshape(half, REF_N)[:, j]
        steps = np.array(steps)
        offsets = np.where(steps == 0, np.abs(offsets), offsets)
        offsets = np.where(steps == REF_MAX_STEPS, -np.abs(offsets), offsets)
        delays = ((steps + offsets) * DT).astype(np.float32)
        isyn, dropped, clamped, pending = run(spikes, delays)
        expected = reference_isyn(spikes, steps, REF_STEPS, tau=2.0)
        np.testing.assert_allclose(np.asarray(isyn), expected, rtol=1e-5, atol=1e-5)
        assert int(dropped.sum()) == 0 and int(clamped.sum()) == 0
        in_flight = sum(
            1 for k, j in zip(*np.nonzero(spikes), strict=True) if k + steps[j] >= REF_STEPS
        )
        assert int(pending.sum()) == in_flight

    check()


def test_lossy_fifo_counts_drops():
    syn = mk_synapses(FIFORing.sized(1), delay_ms=0.5, dt_ms=DT, vthres=1.0, tau_syn_ms=2.0, n=2)
    spikes = np.zeros((12, 2), bool)
    spikes[[0, 1], 0] = True  # two in flight on synapse 0: capacity 1 drops one
    spikes[0, 1] = True
    syn, isyn = run_static(syn, spikes)
    np.testing.assert_array_equal(np.asarray(syn.dropped), [1, 0])
    delivered = spikes.copy()
    delivered[1, 0] = False  # the dropped one
    np.testing.assert_allclose(
        np.asarray(isyn), reference_isyn(delivered, [5, 5], 12, 2.0), rtol=1e-6
    )


def test_spike_detection_path_matches_static_path():
    """A crossing ``v < vthres <= vnext`` in step k sends a spike at ``t_k`` (not at vnext's step);
    equality at threshold counts, starting at threshold does not."""
    v = jnp.array([0.9, 1.0, 0.5, 0.99])
    vnext = jnp.array([1.1, 1.2, 0.9, 1.0])
    syn = mk_synapses(Ring, delay_ms=0.3, dt_ms=DT, vthres=1.0, tau_syn_ms=2.0, n=4)
    trace = []
    for k in range(6):
        syn = syn.timestep_spike_detect_pre(
            k * DT, v if k == 1 else 0 * v, vnext if k == 1 else 0 * v
        )
        trace.append(np.asarray(syn.isyn))
    trace = np.array(trace)
    assert np.all(trace[:4] == 0)
    np.testing.assert_array_equal(trace[4] > 0, [True, False, False, True])


# ---------------------------------------------------------------- delay defects


@pytest.mark.parametrize("name", LOSSLESS)
def test_delays_rounded_and_max_delay_delivered(name):
    """At dt 0.1 ms: 1.26 ms arrives 13 steps after the spike step, 1.24 ms after 12, a delay of
    exactly max_delay_ms (1.3 ms) after 13, 0 ms in the same step. The last synapse fires at max
    delay every step for the time-slot kinds (Ring: 14 events in its 14 slots), every 4th step
    for the capacity-4 kinds."""
    Q = queue_type(name)
    delays = jnp.array([1.26, 1.24, 1.3, 0.0, 1.3])
    syn = mk_synapses(
        Q,
        delay_ms=delays,
        dt_ms=DT,
        vthres=1.0,
        tau_syn_ms=2.0,
        n=5,
        max_delay_ms=1.3,
        grad=grad_flag(name),
    )
    assert syn.max_delay_ms == pytest.approx(1.3) and syn.max_delay_steps == 13
    steps = 40
    spikes = np.zeros((steps, 5), bool)
    spikes[5, :4] = True
    spikes[: 20 : 1 if not queues.info(name).has_capacity else 4, 4] = True
    syn, isyn = jax.jit(run_static)(syn, spikes)
    first = np.argmax(np.asarray(isyn) > 0, axis=0)
    np.testing.assert_array_equal(first, [5 + 13, 5 + 12, 5 + 13, 5, 13])
    np.testing.assert_allclose(
        np.asarray(isyn),
        reference_isyn(spikes, [13, 12, 13, 0, 13], steps, 2.0),
        rtol=1e-5,
        atol=1e-6,
    )
    assert int(syn.dropped.sum()) == 0


def test_fresh_synapses_per_trial_do_not_leak_under_vmap():
    """Two trials in a vmap, each building its synapses: trial 1 (silent) stays at zero although
    trial 0 still has spikes in flight when it ends; trial 0 equals a lone run."""

    def trial(spikes):
        syn = mk_synapses(
            Ring, delay_ms=np.array([0.5, 1.0]), dt_ms=DT, vthres=1.0, tau_syn_ms=2.0, n=2
        )
        syn, isyn = run_static(syn, spikes)
        return isyn, syn.pending

    spikes = np.zeros((2, 20, 2), bool)
    spikes[0, [3, 15, 19], 0] = True
    spikes[0, 18, 1] = True
    isyn, pending = jax.jit(jax.vmap(trial))(spikes)
    assert np.all(np.asarray(isyn[1]) == 0) and int(pending[1].sum()) == 0
    assert int(pending[0].sum()) == 3
    lone, _ = trial(spikes[0])
    np.testing.assert_array_equal(np.asarray(isyn[0]), np.asarray(lone))


def test_reset_empties_queues_between_trials():
    syn = mk_synapse2s(
        FIFORing.sized(4),
        dt_ms=DT,
        vthres=1.0,
        tau_syn1_ms=1.0,
        tau_syn2_ms=5.0,
        n=2,
        delay_ms=jnp.array([0.5, 0.8]),
    )
    spikes = np.zeros((12, 2), bool)
    spikes[[2, 8, 9], 1] = True  # arrivals at steps 10, 16, 17
    syn, _ = run_static(syn, spikes)
    assert int(syn.pending.sum()) == 2 and float(syn.isyn.sum()) > 0
    fresh = syn.reset()
    assert int(fresh.pending.sum()) == 0 and float(jnp.abs(fresh.isyn).sum()) == 0
    _, isyn = run_static(fresh, np.zeros((20, 2), bool))
    assert np.all(np.asarray(isyn) == 0)
    np.testing.assert_array_equal(np.asarray(fresh.delay_ms), np.asarray(syn.delay_ms))


# ---------------------------------------------------------------- traced delays: clamp, count


@pytest.mark.parametrize("Q", [Ring, SortedArray.sized(4)], ids=["ring", "sorted_array"])
def test_traced_delays_are_clamped_and_counted(Q):
    """Inside jit a delay beyond [0, max_delay_ms] is clamped (arrives at max delay or at once) and
    counted per synapse; a Ring never wraps it around."""

    @jax.jit
    def run(delays):
        syn = mk_synapses(
            Q, delay_ms=delays, dt_ms=DT, vthres=1.0, tau_syn_ms=2.0, n=4, max_delay_ms=1.0
        )
        spikes = np.zeros((30, 4), bool)
        spikes[[2, 4], :] = True
        return run_static(syn, spikes)

    syn, isyn = run(jnp.array([2.5, -0.3, jnp.nan, 0.7]))
    first = np.argmax(np.asarray(isyn) > 0, axis=0)
    np.testing.assert_array_equal(first, [12, 2, 2, 9])
    np.testing.assert_array_equal(np.asarray(syn.clamped), [2, 2, 2, 0])
    assert int(syn.dropped.sum()) == 0 and not np.any(np.isnan(np.asarray(isyn)))


# ---------------------------------------------------------------- gradients

T_STEP, SPIKE_STEP = 30, 3


@functools.cache
def _single_synapse(name: str):
    """Presynaptic voltage ramp (slope ``a``/ms) crossing threshold in step 3; the loss is
    ``isyn`` at step 30. Parameters: delay (ms), voltage shift, threshold, tau.
    Returns ``(jit(params -> (loss, grad, jacfwd)), a)``."""
    Q = queue_type(name, 2)
    a = 2.0

    def loss(params):
        delay, shift, vthres, tau = params
        syn = mk_synapse(
            Q, delay_ms=delay, dt_ms=DT, vthres=vthres, tau_syn_ms=tau, max_delay_ms=0.6
        )

        def step(syn, k):
            v = 1.0 + a * (k - SPIKE_STEP - 0.5) * DT + shift
            vnext = v + a * DT
            return syn.timestep_spike_detect_pre(k * DT, v, vnext), None

        syn, _ = jax.lax.scan(step, syn, jnp.arange(T_STEP + 1))
        return syn.isyn

    return jax.jit(lambda p: (loss(p), jax.grad(loss)(p), jax.jacfwd(loss)(p))), a


@pytest.mark.parametrize("name", GRAD_KINDS)
def test_single_synapse_gradients_analytic(name):
    """d isyn(T) / d delay = isyn / tau (derivative of exp(-(T - t_arr) / tau) in t_arr), the
    voltage shift and threshold move the crossing by -/+ 1/slope; forward == reverse; the tau
    gradient matches a central difference of exp(-elapsed / tau) (smooth: the grid stays)."""
    both, a = _single_synapse(name)
    tau = 2.0
    value, rev, fwd = both(jnp.array([0.5, 0.0, 1.0, tau]))
    np.testing.assert_allclose(np.asarray(rev), np.asarray(fwd), rtol=1e-5, atol=1e-8)
    elapsed = (T_STEP - SPIKE_STEP - 5) * DT  # ms since arrival, on the grid
    assert float(value) == pytest.approx(math.exp(-elapsed / tau), rel=1e-5)
    # continuous-time formula of the arrival time: its central difference in the delay
    cont = lambda d: math.exp(-(T_STEP * DT - (SPIKE_STEP * DT + d)) / tau)  # noqa: E731
    h = 1e-4
    fd_delay = (cont(0.5 + h) - cont(0.5 - h)) / (2 * h)
    assert float(rev[0]) == pytest.approx(fd_delay, rel=1e-4)
    assert float(rev[0]) == pytest.approx(float(value) / tau, rel=1e-5)
    assert float(rev[1]) == pytest.approx(-float(value) / (a * tau), rel=1e-5)
    assert float(rev[2]) == pytest.approx(float(value) / (a * tau), rel=1e-5)
    decay = lambda t: math.exp(-elapsed / t)  # noqa: E731  (the value on the grid, exact)
    assert float(rev[3]) == pytest.approx((decay(tau + h) - decay(tau - h)) / (2 * h), rel=1e-4)


def test_gradient_equals_spike_detect_formula():
    """The synapse's gradient equals that of ``exp(-(T - t_arr) / tau)`` with ``t_arr`` from
    :func:`adseq_lab.spikes.spike_detect` at the crossing step, rounded to the grid with
    :func:`adseq_lab.spikes.time_to_step`: ``1/tau exp(...)`` in the delay."""
    both, a = _single_synapse("ring")
    params = jnp.array([0.5, 0.0, 1.0, 2.0])
    value, rev, _ = both(params)

    def formula(params):
        delay, shift, vthres, tau = params
        v = 1.0 - a * 0.5 * DT + shift  # the ramp at the crossing step
        arrival = spike_detect(DT, SPIKE_STEP * DT, vthres, v, v + a * DT, delay)
        step = time_to_step(arrival, DT)  # value in steps, tangent in ms (the seed's convention)
        on_grid_ms = jax.lax.stop_gradient(step) * DT + (step - jax.lax.stop_gradient(step))
        return jnp.exp(-(T_STEP * DT - on_grid_ms) / tau)

    assert float(formula(params)) == pytest.approx(float(value), rel=1e-6)
    expected = jax.grad(formula)(params)
    assert float(expected[0]) == pytest.approx(math.exp(-2.2 / 2.0) / 2.0, rel=1e-5)
    np.testing.assert_allclose(np.asarray(rev[:3]), np.asarray(expected[:3]), rtol=1e-5)


def test_no_spike_gives_zero_finite_gradients():
    both, _ = _single_synapse("fifo_ring")
    silent = jnp.array([0.5, -5.0, 1.0, 2.0])  # the voltage never reaches threshold
    value, rev, fwd = both(silent)
    assert float(value) == 0.0
    np.testing.assert_array_equal(np.asarray(rev), 0.0)
    np.testing.assert_array_equal(np.asarray(fwd), 0.0)


def test_double_exponential_gradients():
    """The arrival is on the grid, so the simulated current equals the closed form; its delay,
    tau1 and tau2 gradients match central differences of that formula (float64)."""
    tau1, tau2, delay = 1.0, 4.0, 0.7

    def loss(params):
        d, t1, t2 = params
        syn = mk_synapse2(
            SortedArray.sized(2),
            dt_ms=DT,
            vthres=1.0,
            tau_syn1_ms=t1,
            tau_syn2_ms=t2,
            max_delay_ms=2.0,
        )

        def step(syn, k):
            s = (k == SPIKE_STEP).astype(jnp.float32)
            return syn.timestep_static_spike(k * DT, s, d), None

        syn, _ = jax.lax.scan(step, syn, jnp.arange(T_STEP + 1))
        return syn.isyn

    params = jnp.array([delay, tau1, tau2])
    value, rev, fwd = jax.jit(lambda p: (loss(p), jax.grad(loss)(p), jax.jacfwd(loss)(p)))(params)
    np.testing.assert_allclose(np.asarray(rev), np.asarray(fwd), rtol=1e-5)

    def formula(d, t1=tau1, t2=tau2):
        s = T_STEP * DT - (SPIKE_STEP * DT + d)
        tp = t1 * t2 / (t2 - t1) * math.log(t2 / t1)
        return (math.exp(-s / t2) - math.exp(-s / t1)) / (math.exp(-tp / t2) - math.exp(-tp / t1))

    assert float(value) == pytest.approx(formula(delay), rel=1e-5)
    h = 1e-4
    assert float(rev[0]) == pytest.approx(
        (formula(delay + h) - formula(delay - h)) / (2 * h), rel=1e-4
    )
    fd_tau1 = (formula(delay, t1=tau1 + h) - formula(delay, t1=tau1 - h)) / (2 * h)
    fd_tau2 = (formula(delay, t2=tau2 + h) - formula(delay, t2=tau2 - h)) / (2 * h)
    assert float(rev[1]) == pytest.approx(fd_tau1, rel=1e-3)
    assert float(rev[2]) == pytest.approx(fd_tau2, rel=1e-3)


@functools.cache
def _network_grads(name: str):
    """A 3-neuron recurrent network in the seed's arrangement (n*n synapses, v repeated) with the
    exact-reset LIF; loss = summed voltage. Returns jit(params, drive) -> (grad, jacfwd, loss)."""
    from adseq_lab.neurons import lif_step

    n, steps = 3, 80
    Q = queue_type(name, 3)

    def loss(params, drive):
        delays, weight = params
        syn = mk_synapses(
            Q, delay_ms=delays, dt_ms=DT, vthres=1.0, tau_syn_ms=2.0, n=n * n, max_delay_ms=0.8
        )

        def step(state, k):
            v, syn = state
            t = k * DT
            isyn = weight @ syn.isyn.reshape((n, n)).sum(0) + drive * (t < 1.0)
            vnext, _ = lif_step(v, isyn, dt_ms=DT, tau_mem_ms=10.0, vthres=1.0)
            syn = syn.timestep_spike_detect_pre(t, jnp.repeat(v, n), jnp.repeat(vnext, n))
            return (vnext, syn), v

        (_, syn), vs = jax.lax.scan(step, (jnp.zeros(n), syn), jnp.arange(steps))
        return vs.sum() + 10 * syn.isyn.sum(), syn.dropped.sum()

    def flat(p, drive):
        return loss((p[: n * n], p[n * n :].reshape(n, n)), drive)

    def run(p, drive):
        (value, dropped), rev = jax.value_and_grad(flat, has_aux=True)(p, drive)
        fwd = jax.jacfwd(lambda p: flat(p, drive)[0])(p)
        return rev, fwd, value, dropped

    return jax.jit(run)


@pytest.fixture(scope="module")
def network_params():
    key = jax.random.PRNGKey(1)
    delays = 0.3 + 0.4 * jax.random.uniform(key, (9,))
    weight = 0.4 * jax.random.uniform(jax.random.fold_in(key, 1), (3, 3)) * (1 - jnp.eye(3))
    return jnp.concatenate([delays, weight.ravel()])


@pytest.fixture(scope="module")
def ring_network(network_params):
    return _network_grads("ring")(network_params, jnp.array([1.5, 1.2, 0.0]))


@pytest.mark.parametrize("name", GRAD_KINDS)
def test_network_forward_equals_reverse(name, network_params, ring_network):
    """jacfwd == grad w.r.t. delays and weights for every gradient-capable kind; the lossless
    kinds agree with the Ring on loss and gradient; no NaN when nothing spikes."""
    run = _network_grads(name)
    rev, fwd, value, dropped = run(network_params, jnp.array([1.5, 1.2, 0.0]))
    np.testing.assert_allclose(np.asarray(rev), np.asarray(fwd), rtol=2e-4, atol=1e-4)
    assert np.all(np.isfinite(np.asarray(rev)))
    assert np.any(np.asarray(rev[:9]) != 0)  # delays matter
    if queues.info(name).lossless:
        assert int(dropped) == 0
        np.testing.assert_allclose(float(value), float(ring_network[2]), rtol=1e-6)
        np.testing.assert_allclose(
            np.asarray(rev), np.asarray(ring_network[0]), rtol=1e-4, atol=1e-4
        )
    rev0, fwd0, _, _ = run(network_params, jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(rev0))) and np.all(np.isfinite(np.asarray(fwd0)))
    np.testing.assert_array_equal(np.asarray(rev0[:9]), 0.0)


@pytest.mark.parametrize("Q", [Ring, FIFORing.sized(4)], ids=["ring", "fifo_ring"])
def test_feedforward_weight_gradient_matches_finite_differences(Q):
    """Fixed input spike times through per-synapse delays into a sub-threshold LIF: the loss is
    smooth (linear) in the weights, so AD matches central differences."""
    from adseq_lab.neurons import lif_step

    spikes = np.zeros((60, 4), bool)
    spikes[[3, 10, 20, 25], [0, 1, 2, 3]] = True

    def loss(w):
        syn = mk_synapses(
            Q, delay_ms=np.array([0.4, 0.9, 0.2, 1.5]), dt_ms=DT, vthres=1.0, tau_syn_ms=2.0, n=4
        )

        def step(state, inputs):
            v, syn = state
            k, s = inputs
            syn = syn.timestep_static_spike(k * DT, s)
            v, _ = lif_step(v, w @ syn.isyn, dt_ms=DT, tau_mem_ms=10.0, vthres=10.0)
            return (v, syn), v

        _, vs = jax.lax.scan(step, (jnp.zeros(()), syn), (jnp.arange(60), jnp.asarray(spikes)))
        return jnp.sum(vs**2)

    w = jnp.array([0.3, -0.2, 0.5, 0.1])
    rev, fwd = jax.jit(lambda w: (jax.grad(loss)(w), jax.jacfwd(loss)(w)))(w)
    np.testing.assert_allclose(np.asarray(rev), np.asarray(fwd), rtol=1e-5)
    f = jax.jit(loss)
    fd = [(float(f(w.at[i].add(1e-2))) - float(f(w.at[i].add(-1e-2)))) / 2e-2 for i in range(4)]
    np.testing.assert_allclose(np.asarray(rev), fd, rtol=2e-3)


# ---------------------------------------------------------------- validation at the boundary

BASE = dict(dt_ms=DT, vthres=1.0, tau_syn_ms=2.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(delay_ms=2.0, max_delay_ms=1.0), r"delay_ms must lie in \[0, max_delay_ms=1.0\]"),
        (dict(delay_ms=-0.1), r"delay_ms must be >= 0 ms; 1 delay\(s\) outside, e.g. -0.1"),
        (dict(delay_ms=float("nan"), max_delay_ms=1.0), "delay_ms must lie"),
        (dict(delay_ms=1.0, dt_ms=0.0), "dt_ms must be a positive"),
        (dict(delay_ms=1.0, dt_ms=-0.1), "dt_ms must be a positive"),
        (dict(delay_ms=1.0, tau_syn_ms=0.0), "tau_syn_ms must be a positive"),
        (dict(delay_ms=1.0, tau_syn_ms=-2.0), "tau_syn_ms must be a positive"),
        (dict(delay_ms=1.0, max_delay_ms=-1.0), "max_delay_ms must be a finite number >= 0"),
        (dict(delay_ms=jnp.ones(3)), r"delay_ms must have shape \(\) or \(1,\) or \(\)"),
    ],
)
def test_mk_synapse_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mk_synapse(Ring, **{**BASE, **kwargs})


def test_mk_synapses_rejects_bad_shapes_and_counts():
    with pytest.raises(ValueError, match=r"delay_ms must have shape .*\(4,\).*got \(3,\)"):
        mk_synapses(Ring, delay_ms=jnp.ones(3), n=4, **BASE)
    with pytest.raises(ValueError, match="n .* must be a positive integer"):
        mk_synapses(Ring, delay_ms=1.0, n=0, **BASE)
    syn = mk_synapses(Ring, delay_ms=jnp.ones(4), n=4, **BASE)
    with pytest.raises(ValueError, match=r"v must have shape \(4,\) .*got \(2,\)"):
        syn.timestep_spike_detect_pre(0.0, jnp.zeros(2), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"vnext must have shape \(4,\)"):
        syn.timestep_spike_detect_pre(0.0, jnp.zeros(4), jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"s must have shape \(4,\)"):
        syn.timestep_static_spike(0.0, jnp.zeros(5, bool))
    with pytest.raises(ValueError, match="ts must be a scalar"):
        syn.timestep_static_spike(jnp.zeros(2), jnp.zeros(4, bool))
    with pytest.raises(ValueError, match=r"delay_ms must lie in \[0, max_delay_ms=1.0\]"):
        syn.timestep_static_spike(0.0, jnp.zeros(4, bool), delay_ms=jnp.full(4, 1.5))


def test_synapse2_validation():
    base = dict(dt_ms=DT, vthres=1.0, max_delay_ms=1.0)
    with pytest.raises(ValueError, match="tau_syn1_ms must be smaller than tau_syn2_ms"):
        mk_synapse2(Ring, tau_syn1_ms=5.0, tau_syn2_ms=5.0, **base)
    with pytest.raises(ValueError, match="tau_syn1_ms must be smaller than tau_syn2_ms"):
        mk_synapse2s(Ring, tau_syn1_ms=6.0, tau_syn2_ms=5.0, n=2, **base)
    with pytest.raises(ValueError, match="tau_syn2_ms must be a positive"):
        mk_synapse2(Ring, tau_syn1_ms=1.0, tau_syn2_ms=-5.0, **base)
    with pytest.raises(ValueError, match="max_delay_ms is required"):
        mk_synapse2(Ring, dt_ms=DT, vthres=1.0, tau_syn1_ms=1.0, tau_syn2_ms=5.0)
    with pytest.raises(ValueError, match=r"t_ms must be a scalar"):
        mk_synapse2(Ring, tau_syn1_ms=1.0, tau_syn2_ms=5.0, **base).timestep_spike_detect_pre(
            jnp.zeros(3), 0.0, 1.0, 0.2
        )


def test_queue_kind_limits_are_reported_in_synapse_terms():
    with pytest.raises(ValueError, match="BitArray32 carries no gradients.*grad=False"):
        mk_synapse(BitArray32, delay_ms=1.0, **BASE)
    with pytest.raises(ValueError, match=r"max_delay_ms=4.0 is 40 steps at dt_ms=0.1"):
        mk_synapse(BitArray32, delay_ms=1.0, max_delay_ms=4.0, grad=False, **BASE)
    with pytest.raises(ValueError, match="Q must be a queue kind"):
        mk_synapse("ring", delay_ms=1.0, **BASE)
    with pytest.raises(ValueError, match="max_delay_ms is required when delay_ms is traced"):
        jax.jit(lambda d: mk_synapse(Ring, delay_ms=d, **BASE).isyn)(1.0)


def test_synapse_is_a_pytree_with_static_constants():
    syn = mk_synapses(SingleSpike, delay_ms=jnp.array([0.1, 0.2]), n=2, **BASE)
    leaves, treedef = jax.tree_util.tree_flatten(syn)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.dt_ms == DT and rebuilt.max_delay_ms == pytest.approx(0.2)
    assert type(rebuilt) is type(syn) is type(mk_synapse(Ring, delay_ms=0.1, **BASE))


def test_crossing_tangent_keeps_one_float_per_synapse_in_reverse_mode():
    """The crossing-time rule's reverse mode keeps ``1 / (dv/dt)`` (0 where nothing crossed), one
    float32 per element, and no separate bool mask; its gradient is ``-1 / slope`` on crossings
    and 0 elsewhere."""
    n = 7
    vnext = jnp.linspace(0.9, 1.2, n)

    def loss(v):
        _, spike_ms = crossing(jnp.float32(2.0), v, vnext, jnp.float32(1.0), 0.1)
        return jnp.sum(spike_ms * jnp.arange(1, n + 1))

    v = jnp.full(n, 0.95)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_saved_residuals(loss, v)
    saved = out.getvalue()
    assert f"f32[{n}]" in saved
    assert "bool" not in saved
    crossed = (v < 1.0) & (vnext >= 1.0)
    expected = jnp.where(crossed, -jnp.arange(1, n + 1) / ((vnext - v) / 0.1), 0.0)
    np.testing.assert_allclose(jax.grad(loss)(v), expected, rtol=1e-6)
    assert 0 < int(crossed.sum()) < n
