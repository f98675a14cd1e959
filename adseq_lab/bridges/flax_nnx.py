"""The Flax bridge's layers as Flax NNX modules (eager parameters, plain Python objects).

Same layers, maths and timing as the Linen bridge (:mod:`adseq_lab.bridges.flax_bridge`, both
built on :mod:`adseq_lab.bridges.layers`); NNX modules create their parameters when constructed,
so synapse layers take their input size ``n_in``:

>>> import jax, jax.numpy as jnp
>>> from flax import nnx
>>> from adseq_lab.bridges import flax_nnx as adseq
>>> rngs = nnx.Rngs(0)
>>> dt = 0.1
>>> model = adseq.Sequential([
...     adseq.DenseInput(dt, 4, 30, queue=adseq.implementations.SingleSpike, rngs=rngs),
...     adseq.LIF(dt, output='single_spike'),
...     adseq.Dense(dt, 30, 2, rngs=rngs),
...     adseq.LIF(dt, output='ttfs'),
... ])
>>> x = jnp.zeros((100, 4)).at[0, 0].set(1).at[50, 2].set(1).at[10, 3].set(1)
>>> model.trace(x).shape
(100, 2)

Train with ``nnx.grad`` / ``nnx.Optimizer``, or ``nnx.split`` the model and use ``jax.grad``.
Parameters: ``weight`` and ``delay`` (raw; ms = ``max_delay * sigmoid(delay)``), ``(n_in, nout)``
``nnx.Param`` each, the same arrays as the Linen layers' ``params``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from .. import implementations
from ..implementations import EventQueue, QueueType
from . import layers as core
from .layers import Output, delay_from_raw, raw_from_delay

__all__ = [
    "implementations",
    "Sequential",
    "DenseInput",
    "Dense",
    "LIF",
    "AdEx",
    "delay_from_raw",
    "raw_from_delay",
]

Initializer = Callable[..., jax.Array]
QueueKind = type[EventQueue] | QueueType


class Sequential(nnx.Module):
    """Layers applied in order each step (API of the Linen ``Sequential``): ``init_carry(x)``,
    ``__call__(carry, x, output_all=False)`` (one step, or the whole trace for ``x``
    ``(T, features)``) and ``trace(xs, output_all=False)``."""

    def __init__(self, layers: Sequence[Any]):
        self.layers = nnx.List(layers)

    def init_carry(self, x: jax.Array) -> list[Any]:
        return core.sequential_init_carry(list(self.layers), jnp.asarray(x))

    def trace(self, xs: jax.Array, output_all: bool = False) -> Any:
        return core.sequential_run(list(self.layers), None, xs, output_all)[1]

    def __call__(self, carry: Any, x: jax.Array, output_all: bool = False) -> tuple[Any, Any]:
        return core.sequential_call(list(self.layers), carry, x, output_all)


class _SynapseLayer(nnx.Module):
    """Settings and parameters shared by ``DenseInput`` and ``Dense``: ``weight`` and ``delay``
    (raw), ``nnx.Param`` ``(n_in, nout)`` each (default ``nout = n_in``)."""

    vthres: float = 1.0
    """The synapses' spike threshold (``Dense`` sets its own; ``DenseInput`` sends spikes)."""

    def __init__(
        self,
        dt: float,
        n_in: int,
        nout: int | None = None,
        *,
        rngs: nnx.Rngs,
        weight_init: Initializer = core.DEFAULT_WEIGHT_INIT,
        delay_init: Initializer = core.DEFAULT_DELAY_INIT,
        queue: QueueKind = core.DEFAULT_QUEUE,
        max_delay: float = 20.0,
        tau_syn1_ms: float = 0.5,
        tau_syn2_ms: float = 2.0,
    ):
        core.check_synapse_layer(dt, nout, queue, max_delay, tau_syn1_ms, tau_syn2_ms)
        nout = n_in if nout is None else nout
        self.dt, self.queue, self.max_delay = dt, queue, max_delay
        self.tau_syn1_ms, self.tau_syn2_ms = tau_syn1_ms, tau_syn2_ms
        self.weight = nnx.Param(weight_init(rngs.params(), (n_in, nout)))
        self.delay = nnx.Param(delay_init(rngs.params(), (n_in, nout)))

    def init_carry(self, x: jax.Array) -> core.SynapseLayerState:
        return core.synapse_layer_carry(self, *self.weight.shape, vthres=self.vthres)


class DenseInput(_SynapseLayer):
    """Delayed synapses from ``n_in`` input spike trains (nonzero = a spike) to ``nout``
    currents; fields as the Linen ``DenseInput``."""

    def __call__(
        self, carry: core.SynapseLayerState, x: jax.Array
    ) -> tuple[core.SynapseLayerState, jax.Array]:
        return core.static_synapse_step(carry, self.weight[...], self.delay[...], x)


class Dense(_SynapseLayer):
    """Delayed synapses from ``n_in`` neurons' voltages (a crossing of ``vthres`` is a spike) to
    ``nout`` currents; fields as the Linen ``Dense``, the others as :class:`DenseInput`."""

    def __init__(
        self, dt: float, n_in: int, nout: int | None = None, *, vthres: float = 1.0, **options: Any
    ):
        super().__init__(dt, n_in, nout, **options)
        self.vthres = vthres

    def __call__(
        self, carry: core.SynapseLayerState, v: jax.Array
    ) -> tuple[core.SynapseLayerState, jax.Array]:
        return core.threshold_synapse_step(carry, self.weight[...], self.delay[...], v)


class LIF(nnx.Module):
    """Leaky integrate-and-fire neurons; fields as the Linen ``LIF`` (no parameters)."""

    def __init__(
        self,
        dt: float,
        tau_mem: float = 10.0,
        vthres: float = 1.0,
        reset_gradient: str = "exact",
        output: Output = "voltage",
    ):
        self.dt, self.tau_mem, self.vthres = dt, tau_mem, vthres
        self.reset_gradient, self.output = reset_gradient, output
        core.check_lif_layer(self)

    def init_carry(self, isyn: jax.Array) -> core.NeuronState:
        return core.init_neuron(jnp.shape(isyn)[-1])

    def __call__(self, carry: core.NeuronState, isyn: jax.Array) -> tuple[core.NeuronState, Any]:
        return core.lif_layer(self, carry, isyn)


class AdEx(nnx.Module):
    """Adaptive exponential integrate-and-fire neurons; fields as the Linen ``AdEx``."""

    def __init__(
        self,
        dt: float,
        tau_mem: float = 10.0,
        tau_w: float = 30.0,
        EL: float = 0.0,
        VT: float = 0.8,
        delta_T: float = 0.05,
        a: float = 0.0,
        b: float = 0.1,
        V_reset: float = 0.0,
        V_peak: float = 1.0,
        reset_gradient: str = "exact",
        output: Output = "voltage",
    ):
        self.dt, self.tau_mem, self.tau_w, self.EL, self.VT = dt, tau_mem, tau_w, EL, VT
        self.delta_T, self.a, self.b, self.V_reset, self.V_peak = delta_T, a, b, V_reset, V_peak
        self.reset_gradient, self.output = reset_gradient, output
        core.check_adex_layer(self)

    def init_carry(self, isyn: jax.Array) -> core.NeuronState:
        return core.init_neuron(jnp.shape(isyn)[-1], self.EL)

    def __call__(self, carry: core.NeuronState, isyn: jax.Array) -> tuple[core.NeuronState, Any]:
        return core.adex_layer(self, carry, isyn)
