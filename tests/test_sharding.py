"""One network split across devices: the same raster, statistics and final state as the
single-device run, with every synapse array actually split along the post axis, both through
adseq_lab.sharding and through a plain ``jit`` of ``network.simulate`` on sharded inputs.

Four CPU devices exist only when XLA_FLAGS is set before JAX starts, so the sharded runs happen in
a subprocess; the single-device references are computed here, in the test process."""

from __future__ import annotations

import dataclasses
import doctest
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adseq_lab import inputs, network, sharding

N, N_IN, STEPS, DT = 16, 4, 250, 0.1
DEVICES = (1, 2, 4)
CASES = ("fifo_ring_inputs", "ring_per_neuron_tau", "per_neuron_history", "adex_sorted_array")


def build_case(name: str):
    """``(net, params, drive)`` of a test case: busy enough to spike, drop and deliver."""
    k_net, k_in, k_current = jax.random.split(jax.random.key(7), 3)
    common = dict(
        connection_prob=0.6,
        weight_scale=0.15,
        delay_ms=1.0,
        delay_spread_ms=0.5,
        max_delay_ms=2.5,
        dt_ms=DT,
        checkpoint=None,
    )
    amplitude = 0.2 * (1 + 0.2 * jax.random.uniform(k_current, (N,), minval=-1, maxval=1))
    current = inputs.constant_current(STEPS, N, amplitude, DT)
    spikes_ms = None
    if name == "fifo_ring_inputs":
        net, params = network.build_network(
            k_net, N, n_inputs=N_IN, input_weight_scale=0.8, queue="fifo_ring", capacity=2, **common
        )
        spikes_ms = inputs.poisson_spikes(k_in, 150.0, STEPS, N_IN, DT)
    elif name == "ring_per_neuron_tau":
        net, params = network.build_network(k_net, N, queue="ring", **common)
        params = dataclasses.replace(
            params, tau_mem_ms=jnp.linspace(8.0, 12.0, N), tau_syn_ms=jnp.linspace(1.5, 2.5, N)
        )
    elif name == "per_neuron_history":
        net, params = network.build_network(k_net, N, arrangement="per_neuron", history=2, **common)
    else:
        common.update(weight_scale=0.6)
        net, params = network.build_network(
            k_net, N, neuron="adex", queue="sorted_array", capacity=3, **common
        )
        adex = dataclasses.replace(params.adex, V_T=jnp.linspace(-52.0, -49.0, N))
        params = dataclasses.replace(params, adex=adex)
        current = current * 5.0  # nA: above the rheobase g_L (V_T - E_L) ~ 0.6 nA
    return net, params, inputs.Drive(current=current, spikes_ms=spikes_ms)


def summary(result: network.SimResult) -> dict[str, np.ndarray]:
    """What must agree: raster, spike times, statistics, final voltage and current."""
    return {
        "spikes": np.asarray(result.spikes),
        "spike_ms": np.asarray(result.spike_ms),
        "pending": np.asarray(result.pending),
        "dropped": np.asarray(result.dropped),
        "first_spike_ms": np.asarray(result.first_spike_ms),
        "v": np.asarray(result.state.v),
        "current": np.asarray(result.state.current),
    }


def run_on_four_cpus(script: str, *args: str) -> str:
    """Run ``script`` in a new Python with four host CPU devices; its standard output."""
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


SHARDED_RUNS = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import jax, numpy as np
    from adseq_lab import sharding
    from adseq_lab.bench import measure
    from test_sharding import CASES, DEVICES, build_case, summary

    out, report = sys.argv[2], {"devices": len(jax.devices())}
    arrays = {}
    for case in CASES:
        net, params, drive = build_case(case)
        for d in DEVICES:
            mesh = sharding.post_mesh(d)
            executable, placed = sharding.compile_sharded(net, params, drive, mesh=mesh)
            result = executable(*placed)
            for key, value in summary(result).items():
                arrays[f"{case}/{d}/{key}"] = value
            queue_leaves = jax.tree.leaves(placed[3].recurrent)
            weight = placed[1].recurrent_weight
            report[f"{case}/{d}"] = {
                "peak_bytes": measure.peak_bytes(executable),
                "weight_shards": [s.data.shape for s in weight.addressable_shards],
                "state_shards": [
                    [s.data.shape for s in leaf.addressable_shards] for leaf in queue_leaves
                ],
                "v_shards": [s.data.shape for s in placed[3].v.addressable_shards],
                "spikes_spec": list(result.spikes.sharding.spec),
            }
    try:
        sharding.simulate_sharded(*build_case(CASES[0])[:2], steps=5, mesh=sharding.post_mesh(3))
    except ValueError as error:
        report["indivisible"] = str(error)
    np.savez(out + ".npz", **arrays)
    with open(out + ".json", "w") as f:
        json.dump(report, f)
    """
)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharding") / "runs"
    run_on_four_cpus(SHARDED_RUNS, str(Path(__file__).parent), str(out))
    report = json.loads(Path(f"{out}.json").read_text())
    with np.load(f"{out}.npz") as arrays:
        return report, {key: arrays[key] for key in arrays.files}


@pytest.mark.parametrize("case", CASES)
def test_sharded_runs_equal_the_single_device_run(sharded, case):
    report, arrays = sharded
    assert report["devices"] == 4
    net, params, drive = build_case(case)
    reference = summary(jax.jit(network.simulate)(net, params, drive))
    assert reference["spikes"].sum() > 0
    for d in DEVICES:
        for key, expected in reference.items():
            np.testing.assert_array_equal(arrays[f"{case}/{d}/{key}"], expected, err_msg=key)


def test_cases_exercise_drops_and_deliveries():
    busy = [
        case for case in CASES if int(jax.jit(network.simulate)(*build_case(case)).dropped.sum())
    ]
    assert busy, "at least one case must drop events (lossy queue or short history)"


@pytest.mark.parametrize("case", CASES)
def test_synapses_and_neurons_are_split_along_the_post_axis(sharded, case):
    report, _ = sharded
    for d in DEVICES:
        entry = report[f"{case}/{d}"]
        assert entry["weight_shards"] == [[N, N // d]] * d
        assert entry["v_shards"] == [[N // d]] * d
        assert entry["spikes_spec"] == [None, "post"]
        if case != "per_neuron_history":
            for shards in entry["state_shards"]:
                if len(shards[0]) >= 2:
                    assert [s[:2] for s in shards] == [[N, N // d]] * d
        else:  # the spike history (history, n_pre) is replicated
            assert entry["state_shards"][0] == [[2, N]] * d


@pytest.mark.parametrize("case", CASES)
def test_memory_per_device_falls_with_the_device_count(sharded, case):
    report, _ = sharded
    peaks = [report[f"{case}/{d}"]["peak_bytes"] for d in DEVICES]
    assert peaks[0] > peaks[1] > peaks[2]


def test_indivisible_network_is_rejected(sharded):
    report, _ = sharded
    assert "multiple of the number of devices" in report["indivisible"]
    assert "(3)" in report["indivisible"]


def test_single_device_mesh_in_process():
    net, params, drive = build_case(CASES[0])
    result = sharding.simulate_sharded(net, params, drive, mesh=sharding.post_mesh(1))
    expected = jax.jit(network.simulate)(net, params, drive)
    np.testing.assert_array_equal(np.asarray(result.spikes), np.asarray(expected.spikes))
    with pytest.raises(ValueError, match="devices must lie in"):
        sharding.post_mesh(len(jax.devices()) + 1)
    with pytest.raises(ValueError, match="delays must lie in"):
        bad = dataclasses.replace(params, recurrent_delay_ms=params.recurrent_delay_ms + 10.0)
        sharding.simulate_sharded(net, bad, drive, mesh=sharding.post_mesh(1))


PLAIN_JIT = textwrap.dedent(
    """
    import sys
    import jax, numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    from adseq_lab import inputs, network

    mesh = jax.make_mesh((4,), ("post",), axis_types=(AxisType.Auto,))
    post = NamedSharding(mesh, P(None, "post"))
    arrangement = sys.argv[1]
    net, params = network.build_network(
        jax.random.key(0), 32, n_inputs=8, connection_prob=0.3, weight_scale=0.2,
        delay_ms=1.0, delay_spread_ms=0.4, max_delay_ms=2.5, dt_ms=0.1,
        arrangement=arrangement, queue="fifo_ring", capacity=8, history=8)
    drive = inputs.Drive(
        current=inputs.constant_current(200, 32, 0.08, 0.1),
        spikes_ms=inputs.poisson_spikes(jax.random.key(1), 200.0, 200, 8, 0.1))
    reference = jax.jit(network.simulate)(net, params, drive)
    shard = lambda x: jax.device_put(x, post) if getattr(x, "ndim", 0) == 2 else x
    state = network.init_state(net, params)
    if arrangement == "per_synapse":
        queue_axis = NamedSharding(mesh, P(None, "post", None))
        state = jax.tree.map(
            lambda x: jax.device_put(x, queue_axis) if x.ndim == 3 else shard(x), state)
    sharded = jax.jit(network.simulate)(
        jax.tree.map(shard, net), jax.tree.map(shard, params), drive, state=state)
    assert int(reference.spikes.sum()) > 50
    np.testing.assert_array_equal(np.asarray(sharded.spikes), np.asarray(reference.spikes))
    weight = jax.tree.map(shard, params).recurrent_weight
    assert len(weight.sharding.device_set) == 4
    print("ok")
    """
)


@pytest.mark.parametrize(
    "arrangement", ["per_neuron", pytest.param("per_synapse", marks=pytest.mark.slow)]
)
def test_plain_jit_of_post_sharded_inputs_gives_the_same_raster(arrangement):
    """No adseq_lab.sharding: ``device_put`` along the post axis and let ``jit`` partition."""
    assert run_on_four_cpus(PLAIN_JIT, arrangement).strip().endswith("ok")


def test_docstring_example():
    result = doctest.testmod(sharding, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
