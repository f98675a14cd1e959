"""Flax bridge (Linen and NNX): the seed README example as written, timing against a plain Python
reference model, adseq 0.9.4 as an outside reference, gradients (forward = reverse = finite
differences where smooth) for every gradient-capable queue kind, and input validation."""

from __future__ import annotations

import math
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import adseq_lab.bridges.flax_bridge as adseq
import adseq_lab.bridges.flax_nnx as adseq_nnx
from adseq_lab import queues
from adseq_lab.bridges import layers
from adseq_lab.implementations import BitArray32, FIFORing, Ring, SingleSpike

SEED_FLAX_EXAMPLE = """
import flax.linen as nn
import adseq_lab.bridges.flax_bridge as adseq

dt = 0.1
model = adseq.Sequential([
        # single spike hidden layer
        adseq.DenseInput(dt, 30, queue=adseq.implementations.SingleSpike),
        adseq.LIF(dt, output='single_spike'),

        # ttfs output layer
        adseq.Dense(dt, 2, weight_init=nn.initializers.uniform(1.5)),
        adseq.LIF(dt, output='ttfs'),
        ])

x = jnp.zeros((100, 4))
x = x.at[0, 0].set(1)
x = x.at[100, 1].set(1)
x = x.at[50, 2].set(1)
x = x.at[10, 3].set(1)

params = model.init(jax.random.key(0), None, x)
ttfs = model.apply(params, x, method='trace')
"""


def test_seed_readme_flax_example_runs_as_written():
    namespace = {"jax": jax, "jnp": jnp}
    exec(SEED_FLAX_EXAMPLE, namespace)
    ttfs, params = namespace["ttfs"], namespace["params"]["params"]
    assert ttfs.shape == (100, 2)
    assert {k: v["delay"].shape for k, v in params.items()} == {
        "layers_0": (4, 30),
        "layers_2": (30, 2),
    }
    # time to first spike: -1 until a spike, then a fixed time inside the 10 ms trace
    final = np.asarray(ttfs[-1])
    assert np.all((final == -1) | ((final >= 0) & (final < 10.0)))


# --- a plain Python reference of the documented timing (adseq_lab.bridges.layers) -----------


def reference_synapse_layer(spike_steps, weight, delay_ms, steps, dt, tau1=0.5, tau2=2.0):
    """Current ``I_k`` (before step k's arrivals), ``(steps, nout)``; each spike of input i at
    step k arrives at ``k + round(delay / dt)`` on every synapse (i, o)."""
    n_in, n_out = weight.shape
    t_peak = tau1 * tau2 / (tau2 - tau1) * math.log(tau2 / tau1)
    denom = math.exp(-t_peak / tau2) - math.exp(-t_peak / tau1)
    arrivals = defaultdict(list)
    for i, spikes in enumerate(spike_steps):
        for k in spikes:
            for o in range(n_out):
                arrivals[k + round(delay_ms[i, o] / dt)].append((i, o))
    isyn1, isyn2 = np.zeros((n_in, n_out)), np.zeros((n_in, n_out))
    out = []
    for k in range(steps):
        out.append(((isyn2 - isyn1) / denom * weight).sum(0))
        hits = np.zeros((n_in, n_out))
        for i, o in arrivals[k]:
            hits[i, o] += 1
        isyn1 = math.exp(-dt / tau1) * isyn1 + hits
        isyn2 = math.exp(-dt / tau2) * isyn2 + hits
    return np.array(out)


def reference_lif(current, dt, tau_mem=10.0, vthres=1.0):
    """``(v_{k+1} per step, spike steps per neuron)``; reset in the step after a crossing."""
    v = np.zeros(current.shape[1])
    vs, spikes = [], [[] for _ in range(current.shape[1])]
    for k, isyn in enumerate(current):
        vnext = np.where(v >= vthres, 0.0, math.exp(-dt / tau_mem) * v + dt * isyn)
        for j in np.nonzero((v < vthres) & (vnext >= vthres))[0]:
            spikes[j].append(k)
        vs.append(vnext)
        v = vnext
    return np.array(vs), spikes


def _two_layer(queue, dt, max_delay, hidden_output="voltage"):
    return adseq.Sequential(
        [
            adseq.DenseInput(dt, 3, queue=queue, max_delay=max_delay),
            adseq.LIF(dt, output=hidden_output),
            adseq.Dense(dt, 2, queue=queue, max_delay=max_delay),
            adseq.LIF(dt, output="voltage"),
        ]
    )


MULTI_SPIKES = [[0, 30], [5], [12, 14]]
ONE_SPIKE = [[0], [5], [12]]


@pytest.mark.parametrize(
    ("queue", "hidden_output", "spike_steps"),
    [
        (FIFORing.sized(8), "voltage", MULTI_SPIKES),
        (SingleSpike, "single_spike", ONE_SPIKE),
    ],
)
def test_two_layers_match_reference_model(queue, hidden_output, spike_steps):
    dt, steps, max_delay = 0.1, 120, 3.0
    x = np.zeros((steps, 3), np.float32)
    for i, ks in enumerate(spike_steps):
        x[ks, i] = 1.0
    rng = np.random.default_rng(0)
    # delays a third of a step away from rounding ties; weights large enough to fire
    delays = [(rng.integers(1, 25, size) + 0.3) * dt for size in ((3, 3), (3, 2))]
    weights = [rng.uniform(0.3, 0.7, (3, 3)), rng.uniform(0.5, 1.5, (3, 2))]
    params = {
        "params": {
            name: {
                "weight": jnp.asarray(w, jnp.float32),
                "delay": adseq.raw_from_delay(d, max_delay),
            }
            for name, w, d in zip(("layers_0", "layers_2"), weights, delays, strict=True)
        }
    }
    model = _two_layer(queue, dt, max_delay, hidden_output)
    run = jax.jit(lambda p, x: model.apply(p, None, x, output_all=True))
    carry, (_, hidden, _, out) = run(params, jnp.asarray(x))
    assert int(carry[0].dropped.sum()) == 0 and int(carry[2].dropped.sum()) == 0

    current = reference_synapse_layer(spike_steps, weights[0], delays[0], steps, dt)
    v_hidden, hidden_spikes = reference_lif(current, dt)
    if hidden_output == "single_spike":
        hidden_spikes = [s[:1] for s in hidden_spikes]
    v_out, out_spikes = reference_lif(
        reference_synapse_layer(hidden_spikes, weights[1], delays[1], steps, dt), dt
    )
    assert sum(map(len, hidden_spikes)) >= 3 and sum(map(len, out_spikes)) >= 1
    if hidden_output == "voltage":
        np.testing.assert_allclose(hidden, v_hidden, atol=2e-5)
    np.testing.assert_allclose(out, v_out, atol=2e-5)


def test_delay_steps_are_exact_at_zero_and_max_delay():
    """A spike at step k with delay D steps: current from I_{k+D+1} on, voltage from v_{k+D+2}
    (output index k+D+1); raw delays of -50 and +50 give exactly 0 and max_delay."""
    dt, max_delay, steps = 0.1, 2.0, 40
    x = jnp.zeros((steps, 1)).at[3, 0].set(1.0)
    model = adseq.Sequential(
        [adseq.DenseInput(dt, 1, queue=Ring, max_delay=max_delay), adseq.LIF(dt)]
    )

    @jax.jit
    def run(raw):
        params = {"params": {"layers_0": {"weight": jnp.ones((1, 1)), "delay": raw}}}
        return model.apply(params, None, x, output_all=True)

    for raw, delay_steps in ((-50.0, 0), (50.0, 20)):
        carry, (current, v) = run(jnp.full((1, 1), raw))
        first_current = int(np.argmax(np.asarray(current[:, 0]) != 0))
        first_voltage = int(np.argmax(np.asarray(v[:, 0]) != 0))
        # a double-exponential current is 0 at the arrival step and positive one step later
        assert first_current == 3 + delay_steps + 2
        assert first_voltage == first_current
        assert int(carry[0].synapses.clamped.sum()) == 0
        assert int(carry[0].dropped.sum()) == 0


def test_delays_stay_inside_range():
    for raw in (-1e6, -20.0, 0.0, 3.0, 1e6, np.inf, -np.inf):
        delay = float(layers.delay_from_raw(jnp.float32(raw), 7.0))
        assert 0.0 <= delay <= 7.0
    np.testing.assert_allclose(
        layers.delay_from_raw(layers.raw_from_delay([0.5, 3.5, 6.9], 7.0), 7.0),
        [0.5, 3.5, 6.9],
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="delay_ms must lie strictly inside"):
        layers.raw_from_delay([7.0], 7.0)


def test_matches_adseq_094_one_step_later():
    """adseq 0.9.4's LIF outputs v_k where ours outputs v_{k+1}; everything else is the same
    once its delay max_delay (1 + tanh(p)) is written as ours 2 max_delay sigmoid(2 p)."""
    original = pytest.importorskip("adseq.bridges.flax_bridge")
    dt, steps = 0.1, 150
    x = jnp.zeros((steps, 3)).at[0, 0].set(1).at[5, 2].set(1).at[30, 1].set(1).at[31, 0].set(1)
    theirs_model = original.Sequential([original.DenseInput(dt, 4), original.LIF(dt)])
    theirs = theirs_model.init(jax.random.key(0), None, x[0])
    inner = theirs["params"]["layers_0"]["model"]
    raw = jnp.linspace(-1.5, -0.2, 12)  # 20 (1 + tanh(raw)): delays of 1 to 16 ms
    weight = jnp.linspace(1.0, 6.0, 12)
    inner["layers_1"]["delay"], inner["layers_2"]["weight"] = raw, weight
    # adseq's synapse (o, i) is index o * n_in + i; ours is (i, o)
    ours = {
        "params": {"layers_0": {"weight": weight.reshape(4, 3).T, "delay": 2 * raw.reshape(4, 3).T}}
    }
    ours_model = adseq.Sequential(
        [adseq.DenseInput(dt, 4, max_delay=40.0), adseq.LIF(dt, reset_gradient="surrogate")]
    )
    v_theirs = jax.jit(lambda p: theirs_model.apply(p, x, method="trace"))(theirs)
    v_ours = jax.jit(lambda p: ours_model.apply(p, x, method="trace"))(ours)
    assert float(jnp.max(v_ours)) >= 1.0  # some neuron fired and reset
    np.testing.assert_allclose(v_ours[:-1], v_theirs[1:], atol=1e-5)


def _dot(a, b):
    return sum(
        float(jnp.vdot(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


GRAD_KINDS = [name for name in queues.names() if queues.info(name).supports_grad]


@pytest.mark.parametrize("name", GRAD_KINDS)
def test_grad_through_every_gradient_capable_queue_kind(name):
    """``jax.grad`` of a loss of the trace output w.r.t. weights and delays equals the
    forward-mode derivative (``jax.jvp``) along a random direction."""
    queue = queues.get(name, 2 if queues.info(name).has_capacity else None)
    dt = 0.2
    x = jnp.zeros((30, 2)).at[0, 0].set(1).at[4, 1].set(1).at[6, 0].set(1)
    model = adseq.Sequential([adseq.DenseInput(dt, 2, queue=queue, max_delay=2.0)])
    params = model.init(jax.random.key(1), None, x[0])
    direction = jax.tree.map(lambda p: jax.random.normal(jax.random.key(2), p.shape), params)

    def loss(p):
        return jnp.sum(model.apply(p, x, method="trace") ** 2)

    grad, jvp = jax.jit(lambda p, v: (jax.grad(loss)(p), jax.jvp(loss, (p,), (v,))[1]))(
        params, direction
    )
    delay_grad = np.asarray(grad["params"]["layers_0"]["delay"])
    assert np.all(np.isfinite(delay_grad))
    if name == "do_nothing":  # drops every event: no current, nothing to differentiate
        assert float(jvp) == 0.0 and not np.any(delay_grad)
        return
    assert np.all(delay_grad != 0)
    np.testing.assert_allclose(_dot(grad, direction), float(jvp), rtol=1e-4, atol=1e-6)


def test_delay_gradient_is_the_spike_shift():
    """Moving the input delay by d moves the output spike by d: finite differences over whole
    steps give exactly 1; the gradient through the queue is 1 up to the O(dt) error of the
    crossing rule (earlier sample's tangent over the secant slope); forward = reverse; a
    stronger synapse fires earlier."""
    dt, max_delay, shift = 0.1, 4.0, 0.5
    model = adseq.Sequential(
        [adseq.DenseInput(dt, 1, max_delay=max_delay), adseq.LIF(dt, output="ttfs")]
    )
    x = jnp.zeros((80, 1)).at[2, 0].set(1.0)

    def ttfs(delay_ms, weight):
        raw = jnp.log(delay_ms / max_delay) - jnp.log1p(-delay_ms / max_delay)
        params = {
            "params": {
                "layers_0": {
                    "weight": jnp.reshape(weight, (1, 1)),
                    "delay": jnp.reshape(raw, (1, 1)),
                }
            }
        }
        return model.apply(params, x, method="trace")[-1, 0]

    @jax.jit
    def everything(delay, weight):
        values = jax.vmap(ttfs, (0, None))(delay + jnp.array([-shift, 0.0, shift]), weight)
        return values, jax.grad(ttfs, (0, 1))(delay, weight), jax.jacfwd(ttfs)(delay, weight)

    (before, now, after), (d_delay, d_weight), forward = everything(
        jnp.float32(1.53), jnp.float32(5.0)
    )
    assert float(now) > 0
    assert float(after - before) / (2 * shift) == pytest.approx(1.0, abs=1e-4)
    assert float(d_delay) == pytest.approx(1.0, abs=0.2)
    assert float(forward) == pytest.approx(float(d_delay), rel=1e-5)
    assert float(d_weight) < 0


def test_voltage_gradient_matches_finite_differences():
    dt, eps = 0.1, 1e-2
    model = adseq.Sequential([adseq.DenseInput(dt, 2, max_delay=2.0), adseq.LIF(dt)])
    x = jnp.zeros((40, 2)).at[0, 0].set(1.0).at[3, 1].set(1.0)

    def voltages(weight):
        params = {"params": {"layers_0": {"weight": weight, "delay": jnp.zeros((2, 2))}}}
        return model.apply(params, x, method="trace")

    def loss(weight):
        return jnp.sum(voltages(weight) ** 2)

    bumps = eps * jnp.eye(4).reshape(4, 2, 2)

    @jax.jit
    def check(weight):
        central = (jax.vmap(loss)(weight + bumps) - jax.vmap(loss)(weight - bumps)) / (2 * eps)
        return jnp.max(voltages(weight)), jax.grad(loss)(weight), central.reshape(2, 2)

    peak, grad, central = check(jnp.full((2, 2), 0.2))
    assert 0.2 < float(peak) < 1.0  # below threshold: no reset, the voltage is smooth
    np.testing.assert_allclose(grad, central, rtol=2e-3)


def reference_adex(
    current,
    dt,
    tau_mem=10.0,
    tau_w=30.0,
    EL=0.0,
    VT=0.8,
    delta_T=0.05,
    a=0.0,
    b=0.1,
    V_reset=0.0,
    V_peak=1.0,
):
    V, w, vs = EL, 0.0, []
    for isyn in current:
        if V >= V_peak:
            V, w = V_reset, w + b
        else:
            dV = (-(V - EL) + delta_T * math.exp((min(V, V_peak) - VT) / delta_T)) / tau_mem
            V, w = V + dt * (dV - w + isyn), w + dt * (a * (V - EL) - w) / tau_w
        vs.append(V)
    return np.array(vs)


def test_adex_layer_matches_reference_and_outputs():
    dt = 0.1
    current = np.concatenate([np.zeros(5), np.full(195, 0.4)]).astype(np.float32)
    layer = adseq.AdEx(dt, a=0.01)
    variables = layer.init(jax.random.key(0), layer.init_carry(jnp.zeros(1)), jnp.zeros(1))

    def run(module):
        carry = module.init_carry(jnp.zeros(1))
        step = jax.jit(lambda c, i: module.apply(variables, c, i[None]))
        return jax.lax.scan(step, carry, current)[1]

    v = np.asarray(run(layer)[:, 0])
    np.testing.assert_allclose(v, reference_adex(current, dt, a=0.01), atol=1e-4)
    spikes = np.nonzero((v[:-1] < 1.0) & (v[1:] >= 1.0))[0]
    assert len(spikes) >= 2
    ttfs, indicator = run(adseq.AdEx(dt, a=0.01, output="ttfs_and_spike"))
    first = (spikes[0]) * dt  # crossing v_k -> v_{k+1} at output index k is a spike at t_k
    assert float(ttfs[-1, 0]) == pytest.approx(first + dt, abs=1e-5)
    assert np.all(np.asarray(indicator[spikes[0] + 1 :]) == 1.0)
    assert np.all(np.asarray(indicator[: spikes[0] + 1]) == 0.0)


def test_nnx_matches_linen_and_forward_mode_equals_reverse_mode():
    """The same parameters give the same outputs in NNX and Linen, and NNX's ``jax.jacfwd``
    equals Linen's ``jax.grad`` for every parameter (weights and delays of both layers)."""
    dt = 0.1
    linen = adseq.Sequential(
        [
            adseq.DenseInput(dt, 6, queue=SingleSpike, max_delay=5.0),
            adseq.LIF(dt, output="single_spike"),
            adseq.Dense(dt, 3, max_delay=5.0),
            adseq.AdEx(dt, output="ttfs_and_spike"),
        ]
    )
    x = jnp.zeros((80, 4)).at[0, 0].set(1).at[5, 2].set(1).at[10, 3].set(1).at[12, 1].set(1)
    variables = jax.jit(linen.init)(jax.random.key(1), None, x[0])
    rngs = nnx.Rngs(0)
    model = adseq_nnx.Sequential(
        [
            adseq_nnx.DenseInput(dt, 4, 6, queue=SingleSpike, max_delay=5.0, rngs=rngs),
            adseq_nnx.LIF(dt, output="single_spike"),
            adseq_nnx.Dense(dt, 6, 3, max_delay=5.0, rngs=rngs),
            adseq_nnx.AdEx(dt, output="ttfs_and_spike"),
        ]
    )
    for index in (0, 2):
        for name in ("weight", "delay"):
            getattr(model.layers[index], name)[...] = variables["params"][f"layers_{index}"][name]

    def loss(outputs):
        ttfs, indicator = outputs[-1]
        return jnp.sum(ttfs[-1]) + jnp.sum(indicator), outputs

    def linen_loss(v):
        return loss(linen.apply(v, x, method="trace", output_all=True))

    graph, state = nnx.split(model)

    def nnx_loss(s):
        return loss(nnx.merge(graph, s).trace(x, output_all=True))

    (_, expected), g_linen = jax.jit(jax.value_and_grad(linen_loss, has_aux=True))(variables)
    g_nnx, got = jax.jit(jax.jacfwd(nnx_loss, has_aux=True))(state)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(np.sum(np.asarray(expected[1][-1]) >= 1.0)) > 0  # hidden spikes happened
    for index in (0, 2):
        for name in ("weight", "delay"):
            reverse = g_linen["params"][f"layers_{index}"][name]
            np.testing.assert_allclose(
                g_nnx["layers"][index][name][...], reverse, rtol=1e-4, atol=1e-6
            )
        assert np.any(np.asarray(g_linen["params"][f"layers_{index}"]["delay"]) != 0)


def test_gradient_of_a_vmapped_batch_is_the_sum_of_per_sample_gradients():
    dt = 0.1
    model = adseq.Sequential([adseq.DenseInput(dt, 2, max_delay=2.0), adseq.LIF(dt, output="ttfs")])
    xs = jnp.zeros((3, 40, 2)).at[:, 0, 0].set(1).at[0, 3, 1].set(1).at[1, 6, 1].set(1)
    params = jax.jit(model.init)(jax.random.key(0), None, xs[0, 0])
    params = jax.tree.map(lambda p: p + 1.0, params)  # strong weights: every output fires

    def loss(p, x):
        return jnp.sum(model.apply(p, x, method="trace")[-1])

    batched = jax.jit(jax.grad(lambda p: jnp.sum(jax.vmap(loss, (None, 0))(p, xs))))(params)
    per_sample = [jax.jit(jax.grad(loss))(params, x) for x in xs]
    for got, *each in zip(jax.tree.leaves(batched), *map(jax.tree.leaves, per_sample), strict=True):
        np.testing.assert_allclose(got, sum(each), rtol=1e-5, atol=1e-6)


def test_one_step_call_and_batches_with_vmap():
    dt = 0.1
    model = adseq.Sequential([adseq.DenseInput(dt, 2, max_delay=3.0), adseq.LIF(dt)])
    xs = jnp.zeros((2, 30, 3)).at[0, 0, 0].set(1).at[1, 4, 2].set(1).at[0, 2, 1].set(1)
    params = jax.jit(model.init)(jax.random.key(0), None, xs[0, 0])
    traced = jax.jit(jax.vmap(lambda x: model.apply(params, x, method="trace")))(xs)
    assert traced.shape == (2, 30, 2) and float(jnp.max(traced[0])) > 0
    step = jax.jit(lambda carry, x: model.apply(params, carry, x))
    carry = model.apply(params, xs[0, 0], method="init_carry")
    outputs = []
    for x in xs[0]:
        carry, y = step(carry, x)
        outputs.append(y)
    np.testing.assert_array_equal(np.stack(outputs), traced[0])


def test_bad_configuration_and_input_raise_value_errors():
    dt = 0.1
    with pytest.raises(ValueError, match="output must be one of"):
        adseq.LIF(dt, output="spikes")
    with pytest.raises(ValueError, match="reset_gradient"):
        adseq.LIF(dt, reset_gradient="approximate")
    with pytest.raises(ValueError, match="dt_ms must be a positive"):
        adseq.LIF(-0.1)
    with pytest.raises(ValueError, match="carries no gradients"):
        adseq.DenseInput(dt, 3, queue=BitArray32)
    with pytest.raises(ValueError, match="max_delay must be a positive"):
        adseq.Dense(dt, 3, max_delay=0.0)
    with pytest.raises(ValueError, match="tau_syn1_ms must be smaller"):
        adseq.Dense(dt, 3, tau_syn1_ms=2.0, tau_syn2_ms=1.0)
    with pytest.raises(ValueError, match="nout must be a positive integer"):
        adseq.DenseInput(dt, 0)
    with pytest.raises(ValueError, match="output must be one of"):
        adseq_nnx.AdEx(dt, output="rate")
    model = adseq.Sequential([adseq.LIF(dt)])
    with pytest.raises(ValueError, match="xs must be a trace"):
        model.init(jax.random.key(0), None, jnp.zeros((0, 3)))
    params = model.init(jax.random.key(0), None, jnp.zeros(3))
    with pytest.raises(ValueError, match="one step of shape"):
        model.apply(params, None, jnp.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="one entry per layer"):
        model.apply(params, [None, None], jnp.zeros(3))
