"""Flax Linen layers with learnable per-synapse delays (the seed's ``adseq.bridges.flax_bridge``).

>>> import jax, jax.numpy as jnp
>>> import flax.linen as nn
>>> import adseq_lab.bridges.flax_bridge as adseq
>>> dt = 0.1
>>> model = adseq.Sequential([
...     adseq.DenseInput(dt, 30, queue=adseq.implementations.SingleSpike),
...     adseq.LIF(dt, output='single_spike'),
...     adseq.Dense(dt, 2, weight_init=nn.initializers.uniform(1.5)),
...     adseq.LIF(dt, output='ttfs'),
... ])
>>> x = jnp.zeros((100, 4)).at[0, 0].set(1).at[50, 2].set(1).at[10, 3].set(1)
>>> params = model.init(jax.random.key(0), None, x)   # the whole (T, features) trace
>>> model.apply(params, x, method='trace').shape      # time to first spike per output, ms
(100, 2)

Every layer works on one step of one sample (``(features,)``): ``Sequential.__call__(carry, x)``
runs one step, or the whole trace when ``x`` is ``(T, features)``; ``trace(xs)`` returns the
outputs ``(T, ...)``; batch with ``jax.vmap``. Step timing, units and the neuron ``output``
options: :mod:`adseq_lab.bridges.layers`.

Parameters per synapse layer (``n_in`` inputs, ``nout`` outputs): ``weight`` and ``delay``, both
``(n_in, nout)``. ``delay`` is the raw value: the delay in ms is
``max_delay * sigmoid(delay)`` (:func:`~adseq_lab.bridges.layers.delay_from_raw`), always inside
``[0, max_delay]`` (adseq 0.9.4's ``max_delay * (1 + tanh)`` reached twice the queue's range).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

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

Initializer = Any
QueueKind = type[EventQueue] | QueueType


class Sequential(nn.Module):
    """Layers applied in order each step; each layer keeps its own carry (``None`` if stateless).

    - ``init_carry(x)``: the initial carries for one step ``x`` ``(features,)``;
    - ``__call__(carry, x, output_all=False)``: one step (``x`` ``(features,)``; ``carry=None``
      starts from ``init_carry(x)``) or, for ``x`` ``(T, features)``, the whole trace; returns
      ``(carry, y)``, ``y`` a list with every layer's output if ``output_all``;
    - ``trace(xs, output_all=False)``: the outputs over ``xs`` ``(T, features)``, stacked on T.
    """

    layers: Sequence[nn.Module]

    def init_carry(self, x: jax.Array) -> list[Any]:
        return core.sequential_init_carry(self.layers, jnp.asarray(x))

    def trace(self, xs: jax.Array, output_all: bool = False) -> Any:
        return core.sequential_run(self.layers, None, xs, output_all)[1]

    def __call__(self, carry: Any, x: jax.Array, output_all: bool = False) -> tuple[Any, Any]:
        return core.sequential_call(self.layers, carry, x, output_all)


class _SynapseLayer(nn.Module):
    """Fields and parameters shared by ``DenseInput`` and ``Dense``."""

    dt: float
    nout: int | None = None
    weight_init: Initializer = core.DEFAULT_WEIGHT_INIT
    delay_init: Initializer = core.DEFAULT_DELAY_INIT
    queue: QueueKind = core.DEFAULT_QUEUE
    max_delay: float = 20.0
    tau_syn1_ms: float = 0.5
    tau_syn2_ms: float = 2.0

    def __post_init__(self) -> None:
        core.check_synapse_layer(
            self.dt, self.nout, self.queue, self.max_delay, self.tau_syn1_ms, self.tau_syn2_ms
        )
        super().__post_init__()

    def _shape(self, x: jax.Array) -> tuple[int, int]:
        n_in = jnp.shape(x)[-1]
        return n_in, n_in if self.nout is None else self.nout

    def _parameters(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        shape = self._shape(x)
        weight = self.param("weight", self.weight_init, shape)
        return weight, self.param("delay", self.delay_init, shape)


class DenseInput(_SynapseLayer):
    """Delayed synapses from input spikes (``(n_in,)`` per step, nonzero = a spike) to ``nout``
    currents (default ``nout = n_in``); double-exponential (``tau_syn1_ms < tau_syn2_ms``),
    one ``queue`` per synapse, delays in ``[0, max_delay]`` ms."""

    def init_carry(self, x: jax.Array) -> core.SynapseLayerState:
        return core.synapse_layer_carry(self, *self._shape(x), vthres=1.0)

    @nn.compact
    def __call__(
        self, carry: core.SynapseLayerState, x: jax.Array
    ) -> tuple[core.SynapseLayerState, jax.Array]:
        return core.static_synapse_step(carry, *self._parameters(x), x)


class Dense(_SynapseLayer):
    """Delayed synapses from the previous neuron layer's voltages ``(n_in,)``: a crossing of
    ``vthres`` is a spike (put ``LIF(output='voltage' | 'single_spike')`` before it). Fields
    as :class:`DenseInput`, plus ``vthres``."""

    vthres: float = 1.0

    def init_carry(self, v: jax.Array) -> core.SynapseLayerState:
        return core.synapse_layer_carry(self, *self._shape(v), vthres=self.vthres)

    @nn.compact
    def __call__(
        self, carry: core.SynapseLayerState, v: jax.Array
    ) -> tuple[core.SynapseLayerState, jax.Array]:
        return core.threshold_synapse_step(carry, *self._parameters(v), v)


class LIF(nn.Module):
    """Leaky integrate-and-fire neurons driven by the previous layer's current (``(n,)``):
    ``dv/dt = -v / tau_mem + I``, threshold ``vthres``, reset to 0 with the ``'exact'``
    (saltation) or ``'surrogate'`` (SuperSpike) gradient; ``output`` as in
    :data:`adseq_lab.bridges.layers.OUTPUTS`."""

    dt: float
    tau_mem: float = 10.0
    vthres: float = 1.0
    reset_gradient: str = "exact"
    output: Output = "voltage"

    def __post_init__(self) -> None:
        core.check_lif_layer(self)
        super().__post_init__()

    def init_carry(self, isyn: jax.Array) -> core.NeuronState:
        return core.init_neuron(jnp.shape(isyn)[-1])

    def __call__(self, carry: core.NeuronState, isyn: jax.Array) -> tuple[core.NeuronState, Any]:
        return core.lif_layer(self, carry, isyn)


class AdEx(nn.Module):
    """Adaptive exponential integrate-and-fire neurons in the LIF layer's units (threshold near
    1; :func:`adseq_lab.bridges.layers.adex_params`); spikes are crossings of ``V_peak``, where
    the neuron resets (``V -> V_reset``, ``w -> w + b``). Starts at rest (``V = EL``)."""

    dt: float
    tau_mem: float = 10.0
    tau_w: float = 30.0
    EL: float = 0.0
    VT: float = 0.8
    delta_T: float = 0.05
    a: float = 0.0
    b: float = 0.1
    V_reset: float = 0.0
    V_peak: float = 1.0
    reset_gradient: str = "exact"
    output: Output = "voltage"

    def __post_init__(self) -> None:
        core.check_adex_layer(self)
        super().__post_init__()

    def init_carry(self, isyn: jax.Array) -> core.NeuronState:
        return core.init_neuron(jnp.shape(isyn)[-1], self.EL)

    def __call__(self, carry: core.NeuronState, isyn: jax.Array) -> tuple[core.NeuronState, Any]:
        return core.adex_layer(self, carry, isyn)
