"""One network across several JAX devices: synapses split along the postsynaptic axis.

Every synapse array is ``(n_pre, n_post)`` (weights, delays, masks, and the per-synapse queues
``(n_pre, n_post, ...)``); :func:`shard` places column block ``d`` of each on device ``d`` of a
one-axis mesh (axis :data:`AXIS`), together with the state of the neurons it feeds (voltage,
current: ``(n,)``, split the same way). What every device needs in full is small and replicated:
the presynaptic spikes of a step (``XLA`` gathers the ``(n,)`` spike vector once per step), the
spike history of ``per_neuron`` (``(history, n_pre)``), the input spike trains and the scalars.
:func:`simulate_sharded` then runs the unchanged :func:`adseq_lab.network.simulate` under
``jax.jit``; XLA's SPMD partitioner follows the input shardings, so each device holds and
updates ``1 / devices`` of the synapses. The raster is the same as on one device: every synapse
and neuron is computed by the same operations, and the per-target sum over presynaptic neurons
stays on one device.

Memory per device: ``peak_bytes`` of :func:`compile_sharded`'s program (XLA's estimate for one
device) falls as ``1 / devices`` for the synapse part; ``adseq-lab bench sharding`` prints it
with the time per step.

Multi-host (not done here; single-process only): every process calls
``jax.distributed.initialize(coordinator_address, num_processes, process_id)`` before touching
devices, so ``jax.devices()`` lists every host's devices and :func:`post_mesh` spans them; every
process runs the same program (SPMD) and builds the same network (same seed, or each host only
its column blocks); arrays are placed with ``jax.make_array_from_callback`` (each process fills
its addressable blocks) instead of ``jax.device_put``; results are global arrays, read on one host
after ``jax.experimental.multihost_utils.process_allgather``. The per-step all-gather of the
``(n,)`` spike vector then crosses the network: keep the mesh axis within a host where possible.
CPU-only hosts need ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``.

>>> import jax
>>> from adseq_lab import network, sharding
>>> net, params = network.build_network(jax.random.key(0), 8, max_delay_ms=2.0)
>>> result = sharding.simulate_sharded(net, params, steps=20, mesh=sharding.post_mesh(1))
>>> result.spikes.shape
(20, 8)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import network
from .delivery import SynapseQueues
from .inputs import Drive

__all__ = ["AXIS", "compile_sharded", "post_mesh", "shard", "shardings", "simulate_sharded"]

AXIS = "post"
"""Name of the mesh axis that splits the postsynaptic neurons."""


def post_mesh(devices: int | Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh (:data:`AXIS`) over ``devices``: a list, the first ``devices`` of
    ``jax.devices()``, or all of them (``None``)."""
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"devices must lie in [1, {len(available)}] (jax.devices() has "
                f"{len(available)}), got {devices}"
            )
        chosen = available[:devices]
    else:
        chosen = list(devices)
        if not chosen:
            raise ValueError("devices must not be empty")
    return Mesh(np.array(chosen), (AXIS,))


def _split(mesh: Mesh, axis: int | None) -> NamedSharding:
    """Split along ``axis`` over the mesh (``None``: replicated)."""
    spec = PartitionSpec() if axis is None else PartitionSpec(*([None] * axis), AXIS)
    return NamedSharding(mesh, spec)


def _maybe(x: Any, sharding: NamedSharding) -> NamedSharding | None:
    return None if x is None else sharding


def _per_neuron(x: Any, mesh: Mesh, n: int) -> NamedSharding | None:
    """A per-neuron setting: ``(n,)`` is split, a scalar replicated."""
    if x is None:
        return None
    return _split(mesh, 0 if np.shape(x) == (n,) else None)


def _delivery(delivery: Any, mesh: Mesh, n_pre: int, n_post: int) -> Any:
    if isinstance(delivery, SynapseQueues):
        queue = jax.tree.map(
            lambda x: _split(mesh, 1 if np.shape(x)[:2] == (n_pre, n_post) else None),
            delivery.queue,
        )
        return SynapseQueues(queue, _split(mesh, None))
    return jax.tree.map(lambda x: _split(mesh, None), delivery)


def shardings(
    net: network.Network,
    params: network.NetworkParams,
    drive: Drive,
    state: network.NetworkState,
    *,
    mesh: Mesh,
) -> tuple[network.Network, network.NetworkParams, Drive, network.NetworkState]:
    """Where each array goes: the same pytrees with a ``NamedSharding`` per array (works on
    arrays and on ``jax.ShapeDtypeStruct`` from ``jax.eval_shape``). ``ValueError`` unless
    ``n_neurons`` is a multiple of the number of devices."""
    n, devices = net.n_neurons, mesh.devices.size
    if n % devices:
        raise ValueError(
            f"n_neurons ({n}) must be a multiple of the number of devices in the mesh ({devices})"
        )
    post, replicated = _split(mesh, 1), _split(mesh, None)
    net = dataclasses.replace(
        net,
        input_mask=_maybe(net.input_mask, post),
        recurrent_mask=_maybe(net.recurrent_mask, post),
    )
    params = network.NetworkParams(
        input_weight=_maybe(params.input_weight, post),
        input_delay_ms=_maybe(params.input_delay_ms, post),
        recurrent_weight=_maybe(params.recurrent_weight, post),
        recurrent_delay_ms=_maybe(params.recurrent_delay_ms, post),
        tau_syn_ms=_per_neuron(params.tau_syn_ms, mesh, n),
        tau_mem_ms=_per_neuron(params.tau_mem_ms, mesh, n),
        vthres=_per_neuron(params.vthres, mesh, n),
        adex=None
        if params.adex is None
        else jax.tree.map(lambda x: _per_neuron(x, mesh, n), params.adex),
    )
    drive = Drive(
        current=_maybe(drive.current, post), spikes_ms=_maybe(drive.spikes_ms, replicated)
    )
    neuron = _split(mesh, 0)
    state = network.NetworkState(
        step=replicated,
        v=neuron,
        w=_maybe(state.w, neuron),
        current=neuron,
        first_spike_ms=neuron,
        inputs=None if state.inputs is None else _delivery(state.inputs, mesh, net.n_inputs, n),
        recurrent=None if state.recurrent is None else _delivery(state.recurrent, mesh, n, n),
    )
    return net, params, drive, state


def shard(
    net: network.Network,
    params: network.NetworkParams,
    drive: Drive | None = None,
    state: network.NetworkState | None = None,
    *,
    mesh: Mesh,
) -> tuple[network.Network, network.NetworkParams, Drive, network.NetworkState]:
    """Place a network, its parameters, drive and state (default: at rest) on ``mesh`` as
    :func:`shardings` says (synapses split along the postsynaptic axis)."""
    net.validate()
    drive = Drive() if drive is None else drive
    state = network.init_state(net, params) if state is None else state
    placed = (net, params, drive, state)
    return jax.device_put(placed, shardings(*placed, mesh=mesh))


def _simulate(net, params, drive, state, steps):
    return network.simulate(net, params, drive, steps=steps, state=state)


_jitted = jax.jit(_simulate, static_argnums=4)


def compile_sharded(
    net: network.Network,
    params: network.NetworkParams,
    drive: Drive | None = None,
    *,
    steps: int | None = None,
    mesh: Mesh | None = None,
) -> tuple[jax.stages.Compiled, tuple]:
    """The compiled sharded program and its arguments ``placed = (net, params, drive, state)``:
    ``executable(*placed)`` returns the :class:`~adseq_lab.network.SimResult` and
    ``executable.memory_analysis()`` describes one device.

    Given ``jax.ShapeDtypeStruct`` leaves (``jax.eval_shape`` of a network builder) nothing is
    allocated: ``placed`` is abstract and only the program (and its memory figures) is made, for
    networks too large to build here.
    """
    mesh = post_mesh() if mesh is None else mesh
    drive = Drive() if drive is None else drive
    leaves = jax.tree.leaves((net, params, drive))
    if any(isinstance(x, jax.ShapeDtypeStruct) for x in leaves):
        state = jax.eval_shape(network.init_state, net, params)
        args = (net, params, drive, state)
        placed = jax.tree.map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
            args,
            shardings(*args, mesh=mesh),
        )
    else:
        network._validate_params(net, params)
        placed = shard(net, params, drive, mesh=mesh)
    return _jitted.lower(*placed, steps).compile(), placed


def simulate_sharded(
    net: network.Network,
    params: network.NetworkParams,
    drive: Drive | None = None,
    *,
    steps: int | None = None,
    state: network.NetworkState | None = None,
    mesh: Mesh | None = None,
) -> network.SimResult:
    """:func:`adseq_lab.network.simulate` with the synapses split across ``mesh`` (default: all
    devices). Same arguments and result; result arrays stay sharded (``np.asarray`` gathers)."""
    mesh = post_mesh() if mesh is None else mesh
    network._validate_params(net, params)
    placed = shard(net, params, drive, state, mesh=mesh)
    return _jitted(*placed, steps)
