"""Sharding the synapses over devices (post axis) leaves the raster unchanged.

Runs in a subprocess with 4 host CPU devices (the device count is fixed when JAX starts)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    import jax, numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    from adseq_lab import inputs, network

    mesh = jax.make_mesh((4,), ("post",), axis_types=(AxisType.Auto,))
    post = NamedSharding(mesh, P(None, "post"))
    for arrangement in sys.argv[1:]:
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
def test_post_axis_sharding_gives_the_same_raster(arrangement):
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, arrangement],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().endswith("ok")
