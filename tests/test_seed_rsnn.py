"""The seed's recurrent SNN example runs as written with ``adseq_lab`` for ``adseq``, and the
benchmark's driven version of it produces adseq 0.9.4's spike raster for lossless queues."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adseq_lab
import adseq_lab.synapse  # noqa: F401  (the seed spells it adseq.synapse)
from adseq_lab.spikes import superspike

# The README's example, verbatim except its last line: `xs=ts = jnp.arange(10000)*dt` is a syntax
# error in a call, so it binds ts with `:=` instead.
README_RSNN = """
Q = adseq.implementations.FIFORing.sized(3)
syn = adseq.synapse.mk_synapses(Q,
      delay_ms=delays, dt_ms=dt,
      vthres=vthres, tau_syn_ms=tau_syn, n=n*n,
      max_delay_ms=7
      )
syn_step = jax.jit(type(syn).timestep_spike_detect_pre)
v = jnp.zeros(n)
state = v, syn
def step(state, t):
    v, syn = state
    isyn = weight @ syn.isyn.reshape((n,n)).sum(0)
    vnext, s = lif_step(v, isyn, tau_mem, dt, vthres)
    syn = syn.timestep_spike_detect_pre(
                   ts=t,
                   v=jnp.repeat(v, n),
                   vnext=jnp.repeat(vnext, n))
    state = vnext, syn
    return state, (v, s)
_, trace = jax.lax.scan(step, state, xs=(ts := jnp.arange(10000)*dt))
"""

N = 10
DT, TAU_SYN, TAU_MEM, VTHRES = 0.025, 2.0, 10.0, 1.0


def lif_step(U, I, tau_mem, dt, vth=1):  # noqa: E741  (user code of the seed's benchmark)
    """The LIF step of adseq's benchmarks/profile_recurrent_snn.py (SuperSpike reset)."""
    S = superspike(U - vth)
    beta = jnp.exp(-dt / tau_mem)
    U_next = (1 - S) * (beta * U + I * dt)
    return U_next, S


def benchmark_inputs(n: int = N):
    """Weights and delays as in the seed's recurrent benchmark (seeded)."""
    key = jax.random.PRNGKey(0)
    weight = (
        jnp.sqrt(23) / jnp.sqrt(n) * 0.05 * (jax.random.normal(key, (n, n)) * (1 - jnp.eye(n))) ** 2
    )
    delays = 4 + 0.5 * jax.random.normal(key, (n, n)).flatten()
    return weight, delays


def test_readme_example_runs_as_written():
    weight, delays = benchmark_inputs()
    namespace = dict(
        adseq=adseq_lab,
        jax=jax,
        jnp=jnp,
        lif_step=lif_step,
        n=N,
        delays=delays,
        dt=DT,
        vthres=VTHRES,
        tau_syn=TAU_SYN,
        tau_mem=TAU_MEM,
        weight=weight,
    )
    exec(README_RSNN, namespace)
    v, s = namespace["trace"]
    assert v.shape == (10000, N) and s.shape == (10000, N)
    assert namespace["ts"].shape == (10000,)
    # as written nothing drives the network: it stays at rest, and nothing is dropped or clamped
    assert float(jnp.abs(v).max()) == 0.0 and float(s.sum()) == 0.0
    assert isinstance(namespace["syn"], adseq_lab.synapse.ExpSynapse)


def driven_raster(lib, Q, steps: int, n: int = N):
    """The benchmark's step (input current of 1 for t < 2 ms, rolled column sums), as in
    adseq's profile_recurrent_snn.sim, through ``lib`` (adseq or adseq_lab)."""
    weight, delays = benchmark_inputs(n)
    syn = lib.synapse.mk_synapses(
        Q, delay_ms=delays, dt_ms=DT, vthres=VTHRES, tau_syn_ms=TAU_SYN, n=n * n, max_delay_ms=7
    )
    syn_step = jax.jit(type(syn).timestep_spike_detect_pre)

    def step(state, t):
        v, syn = state
        isyn = (weight @ jnp.roll(syn.isyn.reshape((n, n)).sum(0), 1)).at[:].add(1.0 * (t < 2))
        vnext, s = lif_step(v, isyn, TAU_MEM, DT, VTHRES)
        syn = syn_step(syn, ts=t, v=jnp.repeat(v, n), vnext=jnp.repeat(vnext, n))
        return (vnext, syn), (v, s)

    run = jax.jit(lambda: jax.lax.scan(step, (jnp.zeros(n), syn), xs=jnp.arange(steps) * DT))
    (_, syn), (_, s) = run()
    return np.asarray(s, bool), syn


STEPS = 1000
# the driven network fires every other step once it runs away: at up to 5.3 ms delay a synapse
# holds up to 107 events, so the capacity kinds get 112 slots
LOSSLESS = [("Ring", None), ("FIFORing", 112), ("SortedArray", 112)]


def queue_of(module, name, capacity):
    kind = getattr(module.implementations, name)
    return kind if capacity is None else kind.sized(capacity)


@functools.cache
def adseq_lab_raster(name: str, capacity: int | None):
    raster, syn = driven_raster(adseq_lab, queue_of(adseq_lab, name, capacity), STEPS)
    return raster, int(syn.dropped.sum()), int(syn.clamped.sum())


@pytest.mark.parametrize("name,capacity", LOSSLESS, ids=[k for k, _ in LOSSLESS])
def test_driven_raster_equals_adseq(name, capacity):
    adseq = pytest.importorskip("adseq")  # its __init__ imports adseq.synapse

    raster, dropped, clamped = adseq_lab_raster(name, capacity)
    assert dropped == 0 and clamped == 0  # lossless here: every event delivered
    assert 1000 < raster.sum() < raster.size  # a busy raster, not a silent or saturated one
    reference, _ = driven_raster(adseq, queue_of(adseq, name, capacity), STEPS)
    np.testing.assert_array_equal(raster, reference)


@pytest.mark.parametrize("name,capacity", LOSSLESS[1:], ids=[k for k, _ in LOSSLESS[1:]])
def test_lossless_kinds_give_the_ring_raster(name, capacity):
    raster, dropped, _ = adseq_lab_raster(name, capacity)
    ring, _, _ = adseq_lab_raster("Ring", None)
    assert dropped == 0
    np.testing.assert_array_equal(raster, ring)


def test_small_capacity_drops_are_counted():
    """FIFORing[8] cannot hold the runaway network's events: the drops are counted (adseq 0.9.4
    drops them silently) and the raster departs from the Ring's."""
    raster, syn = driven_raster(adseq_lab, adseq_lab.implementations.FIFORing.sized(8), 400)
    ring, _, _ = adseq_lab_raster("Ring", None)
    assert int(syn.dropped.sum()) > 0
    assert not np.array_equal(raster, ring[:400])
