"""One-step maths of the Flax layers, shared by the Linen and NNX bridges (no Flax import).

Timing of step ``k`` (``t_k = k dt``), the convention of :mod:`adseq_lab.network`:

- a synapse layer outputs the current ``I_k`` it holds at the start of step ``k``; then the
  spikes of step ``k`` enter its queues (arrival step ``k + round(delay / dt)``) and the arrivals
  due at step ``k`` are added, giving ``I_{k+1}``;
- a neuron layer integrates ``v_{k+1}`` from ``v_k`` and its input ``I_k`` (a neuron at or above
  threshold resets instead, :mod:`adseq_lab.neurons`) and outputs a function of ``v_{k+1}``;
- a ``Dense`` layer compares its previous input ``v_k`` with this one, ``v_{k+1}``: a crossing
  ``v_k < vthres <= v_{k+1}`` is a spike of step ``k`` (time ``t_k``, with the crossing time's
  tangent, :func:`adseq_lab.spikes.crossing`).

An input spike at step ``k`` sent with a delay of ``D`` steps is therefore in the current from
``I_{k+D+1}`` on and first moves the voltage ``v_{k+D+2}``, as in ``network.simulate``; every
further ``Dense`` + neuron pair adds ``D + 1`` steps in the same way.

A synapse layer with ``n_in`` inputs and ``n_out`` outputs holds ``n_in * n_out`` delayed
double-exponential synapses (:mod:`adseq_lab.synapse2`), row-major ``(n_in, n_out)``, one queue
each. Its parameters are ``weight`` and ``raw_delay``, both ``(n_in, n_out)``; the delay is
``max_delay_ms * sigmoid(raw_delay)``, so it stays inside ``[0, max_delay_ms]`` whatever the
optimiser does.

The Linen and NNX front-ends only declare their layers' fields and parameters; each step is one
call here that reads the fields from the layer (:class:`SynapseLayerFields`,
:class:`LIFFields`, :class:`AdExFields`: the same names in both front-ends).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from ..implementations import EventQueue, FIFORing, QueueType
from ..neurons import AdExParams, ResetGradient, adex_step, first_spike_time, lif_step
from ..spikes import superspike
from ..synapse2 import DoubleExpSynapse, mk_synapse2s
from ..synapse_base import check_dt

__all__ = [
    "DEFAULT_QUEUE",
    "DEFAULT_WEIGHT_INIT",
    "DEFAULT_DELAY_INIT",
    "OUTPUTS",
    "Output",
    "check_synapse_layer",
    "check_neuron_layer",
    "SynapseLayerState",
    "NeuronState",
    "delay_from_raw",
    "raw_from_delay",
    "SynapseLayerFields",
    "LIFFields",
    "AdExFields",
    "init_synapse_layer",
    "synapse_layer_carry",
    "static_synapse_step",
    "threshold_synapse_step",
    "init_neuron",
    "lif_layer_step",
    "check_lif_layer",
    "lif_layer",
    "adex_params",
    "adex_layer_step",
    "check_adex_layer",
    "adex_layer",
    "sequential_init_carry",
    "sequential_step",
    "sequential_run",
    "sequential_call",
]

DEFAULT_QUEUE = FIFORing.sized(4)
"""Synapse layers' default queue: four events in flight per synapse, in arrival order."""
DEFAULT_WEIGHT_INIT = jax.nn.initializers.uniform(1.5)
DEFAULT_DELAY_INIT = jax.nn.initializers.normal(1.0)
"""Raw delays ~ N(0, 1): delays spread around ``max_delay / 2``."""

Output = Literal["voltage", "superspike", "single_spike", "ttfs", "ttfs_and_spike"]
OUTPUTS: tuple[str, ...] = ("voltage", "superspike", "single_spike", "ttfs", "ttfs_and_spike")
"""What a neuron layer outputs each step (``(n,)`` arrays; a pair for ``ttfs_and_spike``):

- ``voltage``: ``v_{k+1}``;
- ``superspike``: ``1.0`` where ``v_{k+1} >= vthres`` (SuperSpike surrogate derivative);
- ``single_spike``: ``v_{k+1}`` until the neuron's first spike, then held at the value that
  crossed, so a following ``Dense`` sees exactly one crossing per neuron (TTFS coding);
- ``ttfs``: time of the first spike so far (ms, ``-1`` where none), with the crossing-time
  gradient;
- ``ttfs_and_spike``: ``(ttfs, indicator)``, ``indicator`` 1.0 once the neuron has fired, else
  the SuperSpike step of ``v_{k+1} - vthres`` (its surrogate gradient pushes silent neurons up).
"""


def delay_from_raw(raw_delay: jax.Array, max_delay_ms: float) -> jax.Array:
    """``max_delay_ms * sigmoid(raw_delay)`` (ms), inside ``[0, max_delay_ms]``."""
    return max_delay_ms * jax.nn.sigmoid(raw_delay)


def raw_from_delay(delay_ms: Any, max_delay_ms: float) -> jax.Array:
    """The raw parameter that gives ``delay_ms``: ``logit(delay_ms / max_delay_ms)``.

    ``ValueError`` unless every delay lies strictly inside ``(0, max_delay_ms)``.
    """
    delays = np.asarray(delay_ms, np.float64)
    if not np.all((delays > 0) & (delays < max_delay_ms)):
        raise ValueError(
            f"delay_ms must lie strictly inside (0, {max_delay_ms}) ms (max_delay_ms) to have a "
            f"raw parameter; got values in [{delays.min()}, {delays.max()}]"
        )
    fraction = delays / max_delay_ms
    return jnp.asarray(np.log(fraction) - np.log1p(-fraction), jnp.float32)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _time_constant(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number of ms, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number of ms, got {value}")
    return float(value)


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}, got {output!r}")


def check_synapse_layer(
    dt: Any,
    nout: Any,
    queue: Any,
    max_delay: Any,
    tau_syn1_ms: Any,
    tau_syn2_ms: Any,
) -> None:
    """``ValueError`` (naming the argument) for a synapse layer's bad configuration."""
    check_dt(dt)
    if nout is not None:
        _count("nout", nout)
    if isinstance(max_delay, bool) or not isinstance(max_delay, numbers.Real):
        raise ValueError(f"max_delay must be a positive number of ms, got {max_delay!r}")
    if not (math.isfinite(max_delay) and max_delay > 0):
        raise ValueError(f"max_delay must be a positive finite number of ms, got {max_delay}")
    if not hasattr(queue, "init"):
        raise ValueError(
            f"queue must be a queue kind from adseq_lab.implementations (e.g. "
            f"FIFORing.sized(4)), got {queue!r}"
        )
    if not getattr(queue, "supports_grad", True):
        raise ValueError(
            f"queue {getattr(queue, '__name__', queue)} carries no gradients; the Flax layers "
            "learn their delays, so choose a gradient-capable kind "
            "(adseq_lab.queues.info(name).supports_grad)"
        )
    tau1 = _time_constant("tau_syn1_ms", tau_syn1_ms)
    tau2 = _time_constant("tau_syn2_ms", tau_syn2_ms)
    if not tau1 < tau2:
        raise ValueError(f"tau_syn1_ms must be smaller than tau_syn2_ms, got {tau1} >= {tau2}")


def check_neuron_layer(dt: Any, output: Any, reset_gradient: Any, **time_constants: Any) -> None:
    """``ValueError`` (naming the argument) for a neuron layer's bad configuration."""
    check_dt(dt)
    _check_output(output)
    if reset_gradient not in ("exact", "surrogate"):
        raise ValueError(f"reset_gradient must be 'exact' or 'surrogate', got {reset_gradient!r}")
    for name, value in time_constants.items():
        _time_constant(name, value)


def _one_step_input(name: str, x: jax.Array, n: int | None = None) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 1 or (n is not None and x.shape[0] != n):
        want = "(features,)" if n is None else f"({n},)"
        raise ValueError(
            f"{name} must be one step of shape {want}, got {x.shape} "
            "(use jax.vmap for batches and Sequential.trace for time series)"
        )
    return x


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SynapseLayerState:
    """Carry of a synapse layer: ``synapses`` (``n_in * n_out`` double-exponential synapses),
    ``step`` (int32, the step about to run) and ``previous`` (``(n_in,)``, the last input;
    ``Dense`` detects crossings against it)."""

    synapses: DoubleExpSynapse
    step: jax.Array
    previous: jax.Array

    @property
    def dropped(self) -> jax.Array:
        """Events the queues could not hold so far, int32 ``(n_in * n_out,)``."""
        return self.synapses.dropped


def init_synapse_layer(
    n_in: int,
    n_out: int,
    *,
    dt_ms: float,
    queue: type[EventQueue] | QueueType,
    max_delay_ms: float,
    tau_syn1_ms: float,
    tau_syn2_ms: float,
    vthres: float = 1.0,
) -> SynapseLayerState:
    """Empty queues and zero currents for ``n_in x n_out`` synapses.

    ``previous`` starts at 0, the resting voltage of this bridge's LIF and AdEx layers, so a
    neuron that crosses in the very first step is seen.
    """
    n_in = _count("n_in (input features)", n_in)
    check_synapse_layer(dt_ms, n_out, queue, max_delay_ms, tau_syn1_ms, tau_syn2_ms)
    synapses = mk_synapse2s(
        queue,
        dt_ms=dt_ms,
        vthres=vthres,
        tau_syn1_ms=tau_syn1_ms,
        tau_syn2_ms=tau_syn2_ms,
        n=n_in * n_out,
        max_delay_ms=float(max_delay_ms),
    )
    return SynapseLayerState(synapses, jnp.int32(0), jnp.zeros(n_in, jnp.float32))


class SynapseLayerFields(Protocol):
    """A synapse layer's settings: time step and queue range (ms), queue kind, time constants."""

    dt: float
    queue: type[EventQueue] | QueueType
    max_delay: float
    tau_syn1_ms: float
    tau_syn2_ms: float


def synapse_layer_carry(
    layer: SynapseLayerFields, n_in: int, n_out: int, vthres: float
) -> SynapseLayerState:
    """:func:`init_synapse_layer` with ``layer``'s settings, for ``n_in x n_out`` synapses."""
    return init_synapse_layer(
        n_in,
        n_out,
        dt_ms=layer.dt,
        queue=layer.queue,
        max_delay_ms=layer.max_delay,
        tau_syn1_ms=layer.tau_syn1_ms,
        tau_syn2_ms=layer.tau_syn2_ms,
        vthres=vthres,
    )


def _current(synapses: DoubleExpSynapse, weight: jax.Array) -> jax.Array:
    return jnp.sum(synapses.isyn.reshape(weight.shape) * weight, axis=0)


def _check_parameters(state: SynapseLayerState, weight: jax.Array, raw_delay: jax.Array) -> int:
    n_in = state.previous.shape[0]
    n_syn = state.synapses.shape[0]
    shape = (n_in, n_syn // n_in)
    for name, value in (("weight", weight), ("raw_delay", raw_delay)):
        if jnp.shape(value) != shape:
            raise ValueError(f"{name} must have shape {shape} (n_in, nout), got {jnp.shape(value)}")
    return shape[1]


def static_synapse_step(
    state: SynapseLayerState, weight: jax.Array, raw_delay: jax.Array, spikes: jax.Array
) -> tuple[SynapseLayerState, jax.Array]:
    """``DenseInput`` step: output ``I_k`` ``(n_out,)``; send ``spikes`` ``(n_in,)`` (nonzero =
    a spike now) along every synapse of its row."""
    n_out = _check_parameters(state, weight, raw_delay)
    spikes = _one_step_input("x", spikes, state.previous.shape[0])
    synapses = state.synapses
    current = _current(synapses, weight)
    synapses = synapses.timestep_static_spike(
        state.step.astype(jnp.float32) * synapses.dt_ms,
        jnp.repeat(spikes, n_out),
        delay_from_raw(raw_delay, synapses.max_delay_ms).reshape(-1),
    )
    return dataclasses.replace(state, synapses=synapses, step=state.step + 1), current


def threshold_synapse_step(
    state: SynapseLayerState, weight: jax.Array, raw_delay: jax.Array, v: jax.Array
) -> tuple[SynapseLayerState, jax.Array]:
    """``Dense`` step: output ``I_k`` ``(n_out,)``; a crossing of the synapses' threshold between
    the previous input and ``v`` ``(n_in,)`` is a spike of step ``k``."""
    n_out = _check_parameters(state, weight, raw_delay)
    v = _one_step_input("v", v, state.previous.shape[0]).astype(jnp.float32)
    synapses = state.synapses
    current = _current(synapses, weight)
    synapses = synapses.timestep_spike_detect_pre(
        state.step.astype(jnp.float32) * synapses.dt_ms,
        jnp.repeat(state.previous, n_out),
        jnp.repeat(v, n_out),
        delay_from_raw(raw_delay, synapses.max_delay_ms).reshape(-1),
    )
    return SynapseLayerState(synapses, state.step + 1, v), current


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NeuronState:
    """Carry of a neuron layer (``(n,)`` each): voltage ``v``, adaptation ``w`` (AdEx; zeros for
    LIF), ``first_ms`` (first spike time, ms, -1 where none), ``held`` (the ``single_spike``
    output) and ``step`` (int32 scalar)."""

    v: jax.Array
    w: jax.Array
    first_ms: jax.Array
    held: jax.Array
    step: jax.Array


def init_neuron(n: int, v0: float = 0.0) -> NeuronState:
    """``n`` neurons at rest (``v = v0``, ``w = 0``), none fired yet."""
    n = _count("n (neurons)", n)
    v = jnp.full(n, v0, jnp.float32)
    return NeuronState(v, jnp.zeros(n, jnp.float32), jnp.full(n, -1.0), v, jnp.int32(0))


def _advance(
    state: NeuronState, vnext: jax.Array, wnext: jax.Array, vthres: Any, dt_ms: float, output: str
) -> tuple[NeuronState, Any]:
    _check_output(output)
    t_ms = state.step.astype(jnp.float32) * dt_ms
    first = first_spike_time(state.first_ms, t_ms, state.v, vnext, vthres, dt_ms)
    held = jnp.where(state.first_ms >= 0, state.held, vnext)
    new = NeuronState(vnext, wnext, first, held, state.step + 1)
    if output == "voltage":
        return new, vnext
    if output == "superspike":
        return new, superspike(vnext - vthres)
    if output == "single_spike":
        return new, held
    if output == "ttfs":
        return new, first
    return new, (first, jnp.where(first >= 0, 1.0, superspike(vnext - vthres)))


def lif_layer_step(
    state: NeuronState,
    isyn: jax.Array,
    *,
    dt_ms: float,
    tau_mem_ms: float,
    vthres: float,
    reset_gradient: ResetGradient,
    output: Output,
) -> tuple[NeuronState, Any]:
    """One LIF step (:func:`adseq_lab.neurons.lif_step`) and the layer's ``output``."""
    isyn = _one_step_input("isyn", isyn, state.v.shape[0])
    vnext, _ = lif_step(
        state.v,
        isyn,
        dt_ms=dt_ms,
        tau_mem_ms=tau_mem_ms,
        vthres=vthres,
        reset_gradient=reset_gradient,
    )
    return _advance(state, vnext, state.w, vthres, dt_ms, output)


class LIFFields(Protocol):
    """A LIF layer's fields: ``dt`` and ``tau_mem`` (ms), ``vthres``, gradient and output."""

    dt: float
    tau_mem: float
    vthres: float
    reset_gradient: ResetGradient
    output: Output


def check_lif_layer(layer: LIFFields) -> None:
    """:func:`check_neuron_layer` for ``layer``'s fields."""
    check_neuron_layer(layer.dt, layer.output, layer.reset_gradient, tau_mem=layer.tau_mem)


def lif_layer(layer: LIFFields, state: NeuronState, isyn: jax.Array) -> tuple[NeuronState, Any]:
    """:func:`lif_layer_step` with ``layer``'s fields; ``isyn`` ``(n,)``."""
    return lif_layer_step(
        state,
        isyn,
        dt_ms=layer.dt,
        tau_mem_ms=layer.tau_mem,
        vthres=layer.vthres,
        reset_gradient=layer.reset_gradient,
        output=layer.output,
    )


def adex_params(
    tau_mem: float,
    tau_w: float,
    EL: float,
    VT: float,
    delta_T: float,
    a: float,
    b: float,
    V_reset: float,
    V_peak: float,
) -> AdExParams:
    """Dimensionless AdEx (threshold near 1, like the LIF layer) as :class:`AdExParams`:
    ``dV/dt = (-(V - EL) + delta_T exp((V - VT) / delta_T)) / tau_mem - w + I`` and
    ``dw/dt = (a (V - EL) - w) / tau_w`` (``C = 1``, ``g_L = 1 / tau_mem``)."""
    return AdExParams(
        C=1.0,
        g_L=1.0 / _time_constant("tau_mem", tau_mem),
        E_L=EL,
        V_T=VT,
        Delta_T=delta_T,
        tau_w=_time_constant("tau_w", tau_w),
        a=a,
        b=b,
        V_reset=V_reset,
        V_peak=V_peak,
    )


def adex_layer_step(
    state: NeuronState,
    isyn: jax.Array,
    *,
    dt_ms: float,
    params: AdExParams,
    reset_gradient: ResetGradient,
    output: Output,
) -> tuple[NeuronState, Any]:
    """One AdEx step (:func:`adseq_lab.neurons.adex_step`); spikes are ``V_peak`` crossings."""
    isyn = _one_step_input("isyn", isyn, state.v.shape[0])
    vnext, wnext, _ = adex_step(
        state.v, state.w, isyn, dt_ms=dt_ms, params=params, reset_gradient=reset_gradient
    )
    return _advance(state, vnext, wnext, params.V_peak, dt_ms, output)


class AdExFields(Protocol):
    """An AdEx layer's fields: :func:`adex_params`' arguments, ``dt`` (ms), gradient, output."""

    dt: float
    tau_mem: float
    tau_w: float
    EL: float
    VT: float
    delta_T: float
    a: float
    b: float
    V_reset: float
    V_peak: float
    reset_gradient: ResetGradient
    output: Output


def check_adex_layer(layer: AdExFields) -> None:
    """:func:`check_neuron_layer` for ``layer``'s fields."""
    check_neuron_layer(
        layer.dt,
        layer.output,
        layer.reset_gradient,
        tau_mem=layer.tau_mem,
        tau_w=layer.tau_w,
        delta_T=layer.delta_T,
    )


def adex_layer(layer: AdExFields, state: NeuronState, isyn: jax.Array) -> tuple[NeuronState, Any]:
    """:func:`adex_layer_step` with ``layer``'s fields; ``isyn`` ``(n,)``."""
    params = adex_params(
        layer.tau_mem,
        layer.tau_w,
        layer.EL,
        layer.VT,
        layer.delta_T,
        layer.a,
        layer.b,
        layer.V_reset,
        layer.V_peak,
    )
    return adex_layer_step(
        state,
        isyn,
        dt_ms=layer.dt,
        params=params,
        reset_gradient=layer.reset_gradient,
        output=layer.output,
    )


Layer = Any
"""A layer: an object with ``init_carry(x)`` and ``__call__(carry, x) -> (carry, y)``, or a
stateless callable ``y = layer(x)``."""


def sequential_init_carry(layers: Sequence[Layer], x: jax.Array) -> list[Any]:
    """Each layer's initial carry (``None`` for stateless layers), for one step ``x``.

    Every layer runs once on its example input to give the next layer its input shape (in
    Linen, that also creates the parameters).
    """
    carries = []
    for layer in layers:
        if hasattr(layer, "init_carry"):
            carry = layer.init_carry(x)
            _, x = layer(carry, x)
        else:
            carry = None
            x = layer(x)
        carries.append(carry)
    return carries


def sequential_step(
    layers: Sequence[Layer], carry: Sequence[Any], x: jax.Array, output_all: bool = False
) -> tuple[list[Any], Any]:
    """One step through every layer: ``(carry, y)`` (``y`` a list per layer with
    ``output_all``)."""
    if len(carry) != len(layers):
        raise ValueError(f"carry must have one entry per layer ({len(layers)}), got {len(carry)}")
    new_carry, outputs = [], []
    for c, layer in zip(carry, layers, strict=True):
        if c is None:
            x = layer(x)
        else:
            c, x = layer(c, x)
        new_carry.append(c)
        outputs.append(x)
    return new_carry, (outputs if output_all else x)


def sequential_run(
    layers: Sequence[Layer],
    carry: Sequence[Any] | None,
    xs: jax.Array,
    output_all: bool = False,
) -> tuple[list[Any], Any]:
    """``lax.scan`` of :func:`sequential_step` over the leading (time) axis of ``xs``
    ``(T, features)``: ``(final carry, outputs stacked over T)``."""
    xs = jnp.asarray(xs)
    if xs.ndim != 2 or xs.shape[0] == 0:
        raise ValueError(f"xs must be a trace of shape (T >= 1, features), got {xs.shape}")
    if carry is None:
        carry = sequential_init_carry(layers, xs[0])
    return jax.lax.scan(lambda c, x: sequential_step(layers, c, x, output_all), list(carry), xs)


def sequential_call(
    layers: Sequence[Layer], carry: Sequence[Any] | None, x: jax.Array, output_all: bool = False
) -> tuple[list[Any], Any]:
    """``Sequential.__call__``: one step for ``x`` ``(features,)`` (``carry=None`` starts from
    :func:`sequential_init_carry`), or :func:`sequential_run` for ``x`` ``(T, features)``."""
    x = jnp.asarray(x)
    if x.ndim == 2:
        return sequential_run(layers, carry, x, output_all)
    if carry is None:
        carry = sequential_init_carry(layers, x)
    return sequential_step(layers, carry, x, output_all)
