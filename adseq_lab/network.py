"""Spiking networks with per-synapse delays: build, simulate, differentiate.

A network is one population of ``n_neurons`` (LIF or AdEx) fed by ``n_inputs`` external spike
sources through *input synapses* ``(n_inputs, n_neurons)`` and, if ``recurrent``, by itself
through *recurrent synapses* ``(n_neurons, n_neurons)``. Every synapse has its own weight and
delay (ms). A feedforward layer is a network with inputs and no recurrence; stack layers by
feeding one result's ``spike_ms`` to the next as ``Drive(spikes_ms=...)`` (see
:func:`simulate_chain`).

Three objects, kept apart so JAX transformations go straight through:

- :class:`Network`: static structure (sizes, ``dt_ms``, ``max_delay_ms``, arrangement, queue
  kind, neuron model) plus the connectivity masks; a pytree whose settings are static.
- :class:`NetworkParams`: what you differentiate: weights, delays, time constants.
- :class:`~adseq_lab.inputs.Drive`: injected currents ``(T, n_neurons)`` and input spike times
  ``(T, n_inputs)``.

``simulate(net, params, drive)`` is a pure function (a ``lax.scan`` over steps) returning a
:class:`SimResult`; ``jax.jit``, ``jax.grad``, ``jax.jacfwd`` and ``jax.vmap`` apply directly.

>>> import jax
>>> from adseq_lab import network, inputs
>>> net, params = network.build_network(
...     jax.random.key(0), 20, connection_prob=0.5, weight_scale=0.3,
...     delay_ms=1.0, delay_spread_ms=0.3, max_delay_ms=2.0, dt_ms=0.1,
...     queue="fifo_ring", capacity=4)
>>> drive = inputs.Drive(current=inputs.constant_current(200, 20, 0.3, 0.1))
>>> result = jax.jit(network.simulate)(net, params, drive)
>>> result.spikes.shape, result.voltage.shape, result.pending.shape
((200, 20), (200, 20), (200,))

Update order of step ``k`` (time ``t_k = k * dt_ms``; mirrored in the Brian2 agreement test):

1. the neuron integrates with the synaptic current held at the start of the step plus the
   injected current: ``v_{k+1} = exp(-dt/tau_mem) v_k + dt (I_k + I_ext,k)``; a neuron with
   ``v_k >= vthres`` resets instead (``v_{k+1} = 0``; see :mod:`adseq_lab.neurons`);
2. a spike is the crossing ``v_k < vthres <= v_{k+1}``; its time is ``t_k`` (the tangent is the
   crossing time's, :func:`adseq_lab.spikes.crossing`);
3. spikes of step ``k`` (network and input) enter the synapses with arrival step
   ``k + round(delay / dt)`` (delays rounded to whole steps once, half to even, as Brian2
   does; the tangent of an arrival is spike-time tangent + delay tangent, in ms), and every
   arrival due at ``k`` is delivered;
4. ``I_{k+1} = exp(-dt/tau_syn) I_k + sum_i w_ij hit_ij`` (each hit with the jump tangent of
   :func:`adseq_lab.spikes.synaptic_jump`); ``v_{k+1}`` gets the tangent of the charge the
   moved arrivals shift, ``-sum_i w_ij arrival_dot_ij`` (divided by ``C`` for AdEx; value 0,
   see :class:`adseq_lab.delivery.Arrival`), so voltages and spike times have exact
   derivatives with respect to delays and presynaptic spike times.

A delay of ``d`` steps therefore moves the postsynaptic current at the end of step ``k + d`` and
the voltage from step ``k + d + 1`` on. The postsynaptic current is kept per neuron (all synapses
share ``tau_syn`` of their target), so per-synapse state is only the delay machinery:

- ``arrangement="per_synapse"``: one event queue per synapse (any kind of
  :mod:`adseq_lab.queues`), like the seed; state ``n_pre * n_post * capacity``;
- ``arrangement="per_neuron"``: the memory-lean one, the last ``history`` spike times per
  presynaptic neuron (:class:`adseq_lab.delivery.SpikeHistory`); state ``n_pre * history``;
  identical spikes to a lossless ``per_synapse`` run.

Reverse mode checkpoints the loop (:mod:`adseq_lab.remat`): with ``checkpoint="auto"`` only the
state is kept per step (per chunk of steps when the state is large), so the memory of
``jax.grad`` grows with neurons x events for ``per_neuron``.

Delays: concrete delays outside ``[0, max_delay_ms]`` raise ``ValueError``; traced delays (during
training) are clamped into that range and the number of clamped synapses is reported in
``SimResult.clamped_delays``, so a queue never wraps around.

Recipes:

- *Learn delays of a feedforward layer*: ``build_network(key, n_out, n_inputs=n_in,
  recurrent=False, ...)``; ``loss(params)`` of ``simulate(...).first_spike_ms`` (time to first
  spike, -1 where none) or of ``spike_ms``; ``jax.grad(loss)(params).input_delay_ms``. Keep
  delays inside ``[0, max_delay_ms]`` with a bounded map (e.g. a sigmoid onto the range).
- *Batches* (seeds, inputs, parameters): ``jax.vmap(network.simulate)(nets, params, drives)``
  with ``nets, params = jax.vmap(lambda k: build_network(k, ..., max_delay_ms=...))(keys)``, or
  ``jax.vmap(simulate, in_axes=(None, None, 0))`` over drives only.
- *Long runs in pieces* (progress bars, Stop buttons): pass ``state=previous.state`` and the
  next slice of the drive; the pieces join into the same run.
- *Per-step statistics*: ``spikes.sum(1)`` (population count), ``pending``, ``dropped``,
  ``current`` and ``voltage`` (choose neurons with ``record_voltage``).
- *Speed on CPU*: ``adseq_lab.xla_options.jit`` (or ``jax.jit(...,
  compiler_options=xla_options.CPU_OPTIONS)``) compiles without XLA's YNN fusions, 3-10x
  faster steps here.

Sharding (many devices): synapse arrays are ``(n_pre, n_post)``; place weights, delays, masks
and (``per_synapse``) the queue state with ``NamedSharding(mesh, P(None, "post"))`` on a mesh
with ``AxisType.Auto`` and call the jitted ``simulate``: the raster is unchanged
(tests/test_sharding.py). Neuron state ``(n,)`` and the spike history are small.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from . import connectivity, queues
from .delivery import Projection, SpikeHistory, SynapseQueues
from .implementations.base import EventQueue, QueueType
from .inputs import Drive, forced_resets
from .neurons import AdExParams, ResetGradient, adex_step, lif_step
from .remat import auto_chunks, checkpointed_scan, state_bytes
from .spikes import NO_SPIKE, crossing, time_to_step

__all__ = [
    "Arrangement",
    "ARRANGEMENTS",
    "Network",
    "NetworkParams",
    "NetworkState",
    "SimResult",
    "build_network",
    "init_state",
    "simulate",
    "simulate_chain",
]

Arrangement = Literal["per_synapse", "per_neuron"]
ARRANGEMENTS: tuple[str, ...] = ("per_synapse", "per_neuron")
NEURONS: tuple[str, ...] = ("lif", "adex")
CHECKPOINT_BUDGET_BYTES = 256 * 2**20
"""Stored states ``checkpoint="auto"`` aims at for reverse mode."""


def _static(default: Any = dataclasses.MISSING) -> Any:
    return dataclasses.field(default=default, metadata=dict(static=True))


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive_float(value: Any, name: str, unit: str = "ms") -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number ({unit}), got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number ({unit}), got {value}")
    return value


def delay_steps(max_delay_ms: float, dt_ms: float) -> int:
    """Steps a queue must reach: ``ceil(max_delay_ms / dt_ms)``, ignoring float noise."""
    ratio = max_delay_ms / dt_ms
    nearest = round(ratio)
    return int(nearest if abs(ratio - nearest) < 1e-6 else math.ceil(ratio))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Network:
    """Structure of a network (static settings) and its connectivity masks (arrays).

    - ``n_neurons``, ``n_inputs``: population sizes; ``recurrent``: whether neuron-to-neuron
      synapses exist;
    - ``dt_ms`` (> 0), ``max_delay_ms`` (>= 0): time step and the longest delay the synapses
      reach (it sizes the queues);
    - ``arrangement``: ``"per_synapse"`` (one ``queue`` per synapse: a kind or a ``QueueType``
      such as ``FIFORing.sized(4)``) or ``"per_neuron"`` (``history`` recent spikes per neuron);
    - ``neuron``: ``"lif"`` or ``"adex"``; ``reset_gradient``: ``"exact"`` or ``"surrogate"``;
    - ``record_voltage``: neuron indices whose voltage is recorded (``None``: all);
    - ``checkpoint``: reverse-mode memory strategy: ``"auto"``, ``None`` (plain scan), or chunk
      lengths for :func:`adseq_lab.remat.checkpointed_scan` (``()``: per step);
    - ``input_mask`` ``(n_inputs, n_neurons)``, ``recurrent_mask`` ``(n_neurons, n_neurons)``:
      bool, which synapses exist (``None``: all).

    Pass it to ``jax.jit`` as an ordinary argument (the settings are static pytree metadata).
    """

    n_neurons: int = _static()
    n_inputs: int = _static(0)
    recurrent: bool = _static(True)
    dt_ms: float = _static(0.1)
    max_delay_ms: float = _static(0.0)
    arrangement: Arrangement = _static("per_synapse")
    queue: type[EventQueue] | QueueType | None = _static(None)
    history: int = _static(4)
    neuron: Literal["lif", "adex"] = _static("lif")
    reset_gradient: ResetGradient = _static("exact")
    record_voltage: tuple[int, ...] | None = _static(None)
    checkpoint: Literal["auto"] | tuple[int, ...] | None = _static("auto")
    input_mask: jax.Array | None = None
    recurrent_mask: jax.Array | None = None

    @property
    def max_delay_steps(self) -> int:
        """Queue reach in steps, ``ceil(max_delay_ms / dt_ms)``."""
        return delay_steps(self.max_delay_ms, self.dt_ms)

    def validate(self) -> Network:
        """Check the static settings; ``ValueError`` naming the setting otherwise. Returns self."""
        _positive_int(self.n_neurons, "n_neurons")
        _positive_int(self.n_inputs, "n_inputs", minimum=0)
        _positive_float(self.dt_ms, "dt_ms")
        if not (math.isfinite(self.max_delay_ms) and self.max_delay_ms >= 0):
            raise ValueError(f"max_delay_ms must be a delay >= 0 ms, got {self.max_delay_ms}")
        if not self.recurrent and self.n_inputs == 0:
            raise ValueError("a network needs inputs (n_inputs >= 1) or recurrent=True")
        if self.arrangement not in ARRANGEMENTS:
            raise ValueError(
                f"arrangement must be one of {', '.join(ARRANGEMENTS)}, got {self.arrangement!r}"
            )
        if self.neuron not in NEURONS:
            raise ValueError(f"neuron must be one of {', '.join(NEURONS)}, got {self.neuron!r}")
        if self.reset_gradient not in ("exact", "surrogate"):
            raise ValueError(
                f"reset_gradient must be 'exact' or 'surrogate', got {self.reset_gradient!r}"
            )
        if self.arrangement == "per_neuron":
            _positive_int(self.history, "history")
        else:
            if self.queue is None or not hasattr(self.queue, "init"):
                raise ValueError(
                    "arrangement='per_synapse' needs queue: a kind from adseq_lab.queues "
                    f"(e.g. FIFORing.sized(4)), got {self.queue!r}"
                )
            jax.eval_shape(lambda: self.queue.init(self.max_delay_steps, grad=False))
        if self.record_voltage is not None:
            bad = [i for i in self.record_voltage if not 0 <= i < self.n_neurons]
            if bad:
                raise ValueError(
                    f"record_voltage indices must lie in [0, {self.n_neurons}), got {bad}"
                )
        if self.checkpoint not in ("auto", None) and not (
            isinstance(self.checkpoint, tuple)
            and all(isinstance(c, int) and c >= 1 for c in self.checkpoint)
        ):
            raise ValueError(
                "checkpoint must be 'auto', None or a tuple of chunk lengths >= 1, "
                f"got {self.checkpoint!r}"
            )
        _check_shape(self.input_mask, (self.n_inputs, self.n_neurons), "net.input_mask")
        _check_shape(self.recurrent_mask, (self.n_neurons, self.n_neurons), "net.recurrent_mask")
        return self


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NetworkParams:
    """Differentiable parameters (a pytree of float arrays; ``None`` where a part is absent).

    - ``input_weight``, ``input_delay_ms``: ``(n_inputs, n_neurons)``;
    - ``recurrent_weight``, ``recurrent_delay_ms``: ``(n_neurons, n_neurons)``;
    - ``tau_syn_ms``: synaptic time constant of each target neuron, ``()`` or ``(n_neurons,)``;
    - LIF: ``tau_mem_ms`` and ``vthres``, ``()`` or ``(n_neurons,)``;
    - AdEx: ``adex`` (:class:`adseq_lab.neurons.AdExParams`; threshold ``V_peak``).
    """

    input_weight: jax.Array | None = None
    input_delay_ms: jax.Array | None = None
    recurrent_weight: jax.Array | None = None
    recurrent_delay_ms: jax.Array | None = None
    tau_syn_ms: jax.Array | float = 2.0
    tau_mem_ms: jax.Array | float = 10.0
    vthres: jax.Array | float = 1.0
    adex: AdExParams | None = None


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NetworkState:
    """Everything carried from one step to the next (continue a run by passing it back).

    ``step`` (int32, next step index), ``v`` and ``current`` (synaptic) ``(n_neurons,)``,
    ``w`` (AdEx adaptation, else ``None``), ``first_spike_ms`` (``(n_neurons,)``, -1 before the
    first spike), and the delivery state of the input and recurrent synapses.
    """

    step: jax.Array
    v: jax.Array
    w: jax.Array | None
    current: jax.Array
    first_spike_ms: jax.Array
    inputs: SynapseQueues | SpikeHistory | None
    recurrent: SynapseQueues | SpikeHistory | None


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SimResult:
    """What :func:`simulate` returns; per-step arrays have ``T`` rows, step ``k`` at ``t_k``.

    - ``spikes`` ``(T, n)`` bool: crossing detected in step ``k`` (between ``t_k`` and
      ``t_k + dt``);
    - ``spike_ms`` ``(T, n)``: ``t_k`` where ``spikes`` else -1, with the spike-time tangent
      (differentiable; the next layer's input);
    - ``voltage`` ``(T, len(record_voltage))``: voltage at ``t_k``;
    - ``current`` ``(T, n)``: synaptic current at ``t_k`` (without the injected current);
    - ``pending`` ``(T,)`` int32: events in flight after step ``k``, all synapses together;
    - ``dropped`` ``(T,)`` int32: events lost in step ``k`` (queue full, history overwritten);
    - ``first_spike_ms`` ``(n,)``: time to first spike (-1 where none), differentiable;
    - ``clamped_delays`` int32: synapses whose delay was clamped into ``[0, max_delay_ms]``;
    - ``state``: the final :class:`NetworkState`.
    """

    spikes: jax.Array
    spike_ms: jax.Array
    voltage: jax.Array
    current: jax.Array
    pending: jax.Array
    dropped: jax.Array
    first_spike_ms: jax.Array
    clamped_delays: jax.Array
    state: NetworkState

    def spike_times(self) -> tuple[np.ndarray, np.ndarray]:
        """``(neuron_indices, times_ms)`` of every spike, ordered by time (numpy)."""
        steps, neurons = np.nonzero(np.asarray(self.spikes))
        return neurons, np.asarray(self.spike_ms)[steps, neurons]


def _is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _check_shape(x: Any, shape: tuple[int, ...], name: str) -> None:
    if x is None:
        return
    actual = tuple(jnp.shape(x))
    if actual != shape:
        raise ValueError(f"{name} must have shape {shape}, got {actual}")


def _check_positive(x: Any, name: str, allowed_shapes: tuple[tuple[int, ...], ...]) -> None:
    if jnp.shape(x) not in allowed_shapes:
        raise ValueError(
            f"{name} must have shape {' or '.join(map(str, allowed_shapes))}, got {jnp.shape(x)}"
        )
    if not _is_traced(x) and not bool(np.all(np.asarray(x) > 0)):
        raise ValueError(f"{name} must be > 0 (ms), got {np.asarray(x)}")


def _check_delays(delay: Any, mask: Any, max_delay_ms: float, name: str) -> None:
    if delay is None or _is_traced(delay) or _is_traced(mask):
        return
    values = np.asarray(delay)
    outside = ~((values >= 0) & (values <= max_delay_ms))
    if mask is not None:
        outside &= np.asarray(mask, bool)
    if outside.any():
        bad = values[outside]
        raise ValueError(
            f"{name}: delays must lie in [0, {max_delay_ms}] ms (max_delay_ms); "
            f"{outside.sum()} synapses outside, from {bad.min()} to {bad.max()} ms"
        )


def _clamp(delay: jax.Array, mask: jax.Array | None, max_delay_ms: float):
    """Delays inside ``[0, max_delay_ms]`` (tangent kept inside, zero where clamped) and the
    number of existing synapses that needed it."""
    low, high = delay < 0, delay > max_delay_ms
    outside = (low | high | jnp.isnan(delay)) if mask is None else (low | high) & mask
    clamped = jnp.where(low, 0.0, jnp.where(high, max_delay_ms, delay))
    return clamped, jnp.sum(outside, dtype=jnp.int32)


def _validate_params(net: Network, params: NetworkParams) -> None:
    n, n_in = net.n_neurons, net.n_inputs
    parts = [
        ("input", n_in > 0, (n_in, n), net.input_mask),
        ("recurrent", net.recurrent, (n, n), net.recurrent_mask),
    ]
    for part, present, shape, mask in parts:
        weight = getattr(params, f"{part}_weight")
        delay = getattr(params, f"{part}_delay_ms")
        if not present:
            if weight is not None or delay is not None:
                raise ValueError(
                    f"params.{part}_weight/{part}_delay_ms given but the network has no "
                    f"{part} synapses"
                )
            continue
        for name, value in ((f"{part}_weight", weight), (f"{part}_delay_ms", delay)):
            if value is None:
                raise ValueError(f"params.{name} is required, shape {shape}")
            _check_shape(value, shape, f"params.{name}")
        _check_delays(delay, mask, net.max_delay_ms, f"params.{part}_delay_ms")
    scalar_or_n = ((), (n,))
    _check_positive(params.tau_syn_ms, "params.tau_syn_ms", scalar_or_n)
    if net.neuron == "lif":
        _check_positive(params.tau_mem_ms, "params.tau_mem_ms", scalar_or_n)
        if jnp.shape(params.vthres) not in scalar_or_n:
            raise ValueError(
                f"params.vthres must have shape () or {(n,)}, got {jnp.shape(params.vthres)}"
            )
    elif params.adex is None:
        raise ValueError("params.adex (AdExParams) is required for neuron='adex'")


def _steps(net: Network, drive: Drive, steps: int | None) -> int:
    n, n_in = net.n_neurons, net.n_inputs
    lengths = {}
    if drive.current is not None:
        if jnp.ndim(drive.current) != 2 or jnp.shape(drive.current)[1] != n:
            raise ValueError(
                f"drive.current must have shape (T, {n}), got {jnp.shape(drive.current)}"
            )
        lengths["drive.current"] = jnp.shape(drive.current)[0]
    if drive.spikes_ms is not None:
        if n_in == 0:
            raise ValueError("drive.spikes_ms given but the network has no inputs (n_inputs=0)")
        if jnp.ndim(drive.spikes_ms) != 2 or jnp.shape(drive.spikes_ms)[1] != n_in:
            raise ValueError(
                f"drive.spikes_ms must have shape (T, {n_in}), got {jnp.shape(drive.spikes_ms)}"
            )
        lengths["drive.spikes_ms"] = jnp.shape(drive.spikes_ms)[0]
    if drive.forced_spikes is not None:
        if net.neuron != "lif":
            raise ValueError("drive.forced_spikes (teacher forcing) needs LIF neurons")
        forced = drive.forced_spikes
        shape = jnp.shape(forced)
        if len(shape) != 2 or shape[1] != n or not jnp.issubdtype(jnp.result_type(forced), bool):
            raise ValueError(
                f"drive.forced_spikes must be bool with shape (T, {n}), got "
                f"{jnp.result_type(forced)} {shape}"
            )
        lengths["drive.forced_spikes"] = shape[0]
    if steps is not None:
        lengths["steps"] = _positive_int(steps, "steps")
    if not lengths:
        raise ValueError("give steps=T or a drive with a current or input spikes")
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the number of steps T disagrees: {lengths}")
    return int(next(iter(lengths.values())))


def _delivery(net: Network, n_pre: int) -> SynapseQueues | SpikeHistory:
    if net.arrangement == "per_neuron":
        return SpikeHistory.init(net.history, n_pre)
    return SynapseQueues.init(net.queue, n_pre, net.n_neurons, net.max_delay_steps)


def init_state(net: Network, params: NetworkParams | None = None) -> NetworkState:
    """The state before step 0: voltages at rest (LIF 0, AdEx ``E_L``), no current, empty
    synapses."""
    net.validate()
    n = net.n_neurons
    if net.neuron == "adex":
        adex = params.adex if params is not None and params.adex is not None else AdExParams()
        v = jnp.broadcast_to(jnp.asarray(adex.E_L, jnp.float32), (n,))
        w = jnp.zeros(n, jnp.float32)
    else:
        v, w = jnp.zeros(n, jnp.float32), None
    return NetworkState(
        step=jnp.zeros((), jnp.int32),
        v=v,
        w=w,
        current=jnp.zeros(n, jnp.float32),
        first_spike_ms=jnp.full(n, NO_SPIKE, jnp.float32),
        inputs=_delivery(net, net.n_inputs) if net.n_inputs else None,
        recurrent=_delivery(net, n) if net.recurrent else None,
    )


def _chunks(net: Network, state: NetworkState, steps: int) -> tuple[int, ...] | None:
    if net.checkpoint is None or isinstance(net.checkpoint, tuple):
        return net.checkpoint
    return auto_chunks(steps, state_bytes(state), CHECKPOINT_BUDGET_BYTES)


def simulate(
    net: Network,
    params: NetworkParams,
    drive: Drive | None = None,
    *,
    steps: int | None = None,
    state: NetworkState | None = None,
) -> SimResult:
    """Simulate ``T`` steps (``T`` from the drive, or ``steps``) from ``state`` (default: at
    rest, :func:`init_state`). Pure: jit/grad/jacfwd/vmap apply directly.

    ``ValueError`` for shape mismatches (naming the argument and the expected shape), concrete
    delays outside ``[0, max_delay_ms]`` and non-positive time constants.
    """
    net.validate()
    drive = Drive() if drive is None else drive
    _validate_params(net, params)
    steps = _steps(net, drive, steps)
    state = init_state(net, params) if state is None else state

    dt = net.dt_ms
    table_steps = net.max_delay_steps if net.arrangement == "per_neuron" else None
    clamped = jnp.zeros((), jnp.int32)
    synapses = {}
    for part, present, mask in (
        ("inputs", net.n_inputs > 0, net.input_mask),
        ("recurrent", net.recurrent, net.recurrent_mask),
    ):
        if not present:
            continue
        prefix = "input" if part == "inputs" else "recurrent"
        delay, count = _clamp(getattr(params, f"{prefix}_delay_ms"), mask, net.max_delay_ms)
        synapses[part] = Projection.build(
            getattr(params, f"{prefix}_weight"), time_to_step(delay, dt), mask, table_steps
        )
        clamped = clamped + count

    alpha = jnp.exp(-dt / jnp.asarray(params.tau_syn_ms, jnp.float32))
    recorded = None if net.record_voltage is None else jnp.asarray(net.record_voltage, jnp.int32)
    if net.neuron == "adex":
        vthres = params.adex.V_peak
    else:
        vthres = params.vthres

    def step(state: NetworkState, x) -> tuple[NetworkState, tuple]:
        current_ext, spikes_in, (forced, forced_reset) = x
        t_ms = state.step.astype(jnp.float32) * dt
        total = state.current if current_ext is None else state.current + current_ext
        if net.neuron == "adex":
            vnext, w, _ = adex_step(
                state.v,
                state.w,
                total,
                dt_ms=dt,
                params=params.adex,
                reset_gradient=net.reset_gradient,
            )
        else:
            w = None
            vnext, _ = lif_step(
                state.v,
                total,
                dt_ms=dt,
                tau_mem_ms=params.tau_mem_ms,
                vthres=params.vthres,
                reset_gradient=net.reset_gradient,
                forced_reset=forced_reset,
            )
        if forced is None:
            spiked, spike_ms = crossing(t_ms, state.v, vnext, vthres, dt)
        else:
            spiked, spike_ms = forced, jnp.broadcast_to(t_ms, forced.shape)
        first = jnp.where((state.first_spike_ms < 0) & spiked, spike_ms, state.first_spike_ms)

        spike_step = state.step.astype(jnp.float32) + (spike_ms - jax.lax.stop_gradient(spike_ms))
        sources = {"recurrent": (spike_step, spiked)}
        if spikes_in is not None:
            sources["inputs"] = (time_to_step(spikes_in, dt), spikes_in >= 0)
        else:
            no_input = jnp.zeros(net.n_inputs, jnp.float32)
            sources["inputs"] = (no_input, no_input > 0)
        delivered, input_current = {}, jnp.zeros_like(state.current)
        charge = jnp.zeros_like(state.current)
        pending = dropped = jnp.zeros((), jnp.int32)
        for part, projection in synapses.items():
            pre_step, pre_spiked = sources[part]
            delivered[part], arrival = getattr(state, part).step(
                pre_step, pre_spiked, projection, state.step, params.tau_syn_ms
            )
            input_current = input_current + arrival.current
            charge = charge + arrival.charge
            pending, dropped = pending + arrival.pending, dropped + arrival.dropped

        if net.neuron == "adex":
            charge = charge / params.adex.C
        new_state = NetworkState(
            step=state.step + 1,
            v=vnext + charge,
            w=w,
            current=alpha * state.current + input_current,
            first_spike_ms=first,
            inputs=delivered.get("inputs"),
            recurrent=delivered.get("recurrent"),
        )
        voltage = state.v if recorded is None else state.v[recorded]
        out = (spiked, jnp.where(spiked, spike_ms, NO_SPIKE), voltage, state.current)
        return new_state, out + (pending, dropped)

    forcing = (None, None)
    if drive.forced_spikes is not None:
        forcing = (drive.forced_spikes, forced_resets(drive.forced_spikes))
    xs = (drive.current, drive.spikes_ms, forcing)
    chunks = _chunks(net, state, steps)
    if chunks is None:
        final, ys = jax.lax.scan(step, state, xs, length=steps)
    else:
        final, ys = checkpointed_scan(step, state, xs, steps, chunks)
    spikes, spike_ms, voltage, current, pending, dropped = ys
    return SimResult(
        spikes=spikes,
        spike_ms=spike_ms,
        voltage=voltage,
        current=current,
        pending=pending,
        dropped=dropped,
        first_spike_ms=final.first_spike_ms,
        clamped_delays=clamped,
        state=final,
    )


def simulate_chain(
    layers: Sequence[tuple[Network, NetworkParams]], drive: Drive
) -> list[SimResult]:
    """Simulate feedforward layers in order; each layer's ``spike_ms`` (with tangents) drives the
    next layer's inputs. ``drive`` feeds the first layer. Returns every layer's result."""
    results = []
    for index, (net, params) in enumerate(layers):
        if index:
            drive = Drive(spikes_ms=results[-1].spike_ms)
        results.append(simulate(net, params, drive))
    return results


def build_network(
    key: jax.Array,
    n_neurons: int,
    *,
    n_inputs: int = 0,
    recurrent: bool = True,
    connection_prob: float = 1.0,
    input_connection_prob: float = 1.0,
    self_connections: bool = False,
    weight_scale: float = 1.0,
    input_weight_scale: float = 1.0,
    weight_dist: connectivity.WeightDistribution = "normal",
    input_weight_dist: connectivity.WeightDistribution = "uniform",
    delay_ms: float | jax.Array = 1.0,
    delay_spread_ms: float = 0.0,
    input_delay_ms: float | jax.Array | None = None,
    input_delay_spread_ms: float | None = None,
    delay_dist: connectivity.DelayDistribution = "normal",
    max_delay_ms: float | None = None,
    dt_ms: float = 0.1,
    arrangement: Arrangement = "per_synapse",
    queue: str | type[EventQueue] | QueueType = "fifo_ring",
    capacity: int | None = 4,
    history: int = 4,
    neuron: Literal["lif", "adex"] = "lif",
    reset_gradient: ResetGradient = "exact",
    tau_syn_ms: float = 2.0,
    tau_mem_ms: float = 10.0,
    vthres: float = 1.0,
    adex: AdExParams | None = None,
    record_voltage: Sequence[int] | None = None,
    checkpoint: Literal["auto"] | tuple[int, ...] | None = "auto",
) -> tuple[Network, NetworkParams]:
    """A random network and its parameters, seeded by ``key``.

    Synapses exist with ``connection_prob`` (recurrent; no self-connections unless
    ``self_connections``) and ``input_connection_prob`` (inputs). Weights are
    ``weight_scale * draw(weight_dist)`` (see :func:`adseq_lab.connectivity.draw_weights`), zero
    where no synapse exists. Delays: a scalar ``delay_ms`` is the mean of ``delay_dist`` with
    ``delay_spread_ms`` (clipped to ``[0, max_delay_ms]``); an array ``(n_pre, n_post)`` is used
    as given. Input delays default to the recurrent settings. ``max_delay_ms`` defaults to the
    largest delay drawn (it must be given when ``key`` is traced, e.g. under ``vmap``).
    ``queue`` is a registry name (with ``capacity`` where the kind has one) or a kind/type.
    """
    _positive_int(n_neurons, "n_neurons")
    _positive_int(n_inputs, "n_inputs", minimum=0)
    _positive_float(dt_ms, "dt_ms")
    for name, value in (("tau_syn_ms", tau_syn_ms), ("tau_mem_ms", tau_mem_ms)):
        _positive_float(value, name)
    if isinstance(queue, str):
        entry = queues.info(queue)
        queue = queues.get(queue, capacity if entry.has_capacity else None)
    n = n_neurons

    def synapses(keys, shape, probability, scale, distribution, delay, spread, self_ok):
        """``(mask, weight, delay_ms)`` of one group of synapses."""
        k_mask, k_weight, k_delay = keys
        mask = connectivity.connection_mask(k_mask, shape, probability, self_connections=self_ok)
        weight = connectivity.draw_weights(k_weight, shape, scale, distribution)
        if mask is not None:
            weight = jnp.where(mask, weight, 0.0)
        if jnp.ndim(delay) == 0:
            delays = connectivity.draw_delays(
                k_delay, shape, float(delay), spread, max_delay_ms, delay_dist
            )
        else:
            delays = jnp.asarray(delay, jnp.float32)
            _check_shape(delays, shape, "delay matrix")
        return mask, weight, delays

    keys = jax.random.split(key, 6)
    recurrent_part = input_part = (None, None, None)
    if recurrent:
        recurrent_part = synapses(
            keys[:3],
            (n, n),
            probability=connection_prob,
            scale=weight_scale,
            distribution=weight_dist,
            delay=delay_ms,
            spread=delay_spread_ms,
            self_ok=self_connections,
        )
    if n_inputs:
        input_part = synapses(
            keys[3:],
            (n_inputs, n),
            probability=input_connection_prob,
            scale=input_weight_scale,
            distribution=input_weight_dist,
            delay=delay_ms if input_delay_ms is None else input_delay_ms,
            spread=delay_spread_ms if input_delay_spread_ms is None else input_delay_spread_ms,
            self_ok=True,
        )
    if max_delay_ms is None:
        drawn = [d for d in (recurrent_part[2], input_part[2]) if d is not None]
        if any(_is_traced(d) for d in drawn):
            raise ValueError("max_delay_ms is required when the delays are traced (vmap/jit)")
        max_delay_ms = max(float(jnp.max(d)) for d in drawn)
    net = Network(
        n_neurons=n,
        n_inputs=n_inputs,
        recurrent=recurrent,
        dt_ms=float(dt_ms),
        max_delay_ms=float(max_delay_ms),
        arrangement=arrangement,
        queue=queue if arrangement == "per_synapse" else None,
        history=history,
        neuron=neuron,
        reset_gradient=reset_gradient,
        record_voltage=None if record_voltage is None else tuple(int(i) for i in record_voltage),
        checkpoint=checkpoint,
        input_mask=input_part[0],
        recurrent_mask=recurrent_part[0],
    ).validate()
    params = NetworkParams(
        input_weight=input_part[1],
        input_delay_ms=input_part[2],
        recurrent_weight=recurrent_part[1],
        recurrent_delay_ms=recurrent_part[2],
        tau_syn_ms=jnp.asarray(tau_syn_ms, jnp.float32),
        tau_mem_ms=jnp.asarray(tau_mem_ms, jnp.float32),
        vthres=jnp.asarray(vthres, jnp.float32),
        adex=(adex or AdExParams()) if neuron == "adex" else None,
    )
    _validate_params(net, params)
    return net, params
