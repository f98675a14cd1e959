"""Delay recovery: a student layer learns the hidden per-synapse delays of a teacher layer.

A teacher feedforward layer (``n_inputs x n_outputs`` LIF synapses, excitatory weights drawn
uniformly in ``weight_range`` and known to both, delays hidden, drawn uniformly in
``delay_range_ms``) turns random input spike trains (``trials`` independent Poisson trains at
``rate_hz``) into output spike trains. A student with the same
weights starts from one common delay and learns its delays (bounded onto ``[0, max_delay_ms]``)
by reverse mode so that its output spike trains reproduce the teacher's. Each output train is
filtered with alpha kernels ``(t / tau) exp(1 - t / tau)`` of the widths ``kernels_ms``
(continuous at the spike, so the derivative with respect to a spike time is exact; the wide
kernel sees delays that are far off, the narrow one places them precisely); the loss is the mean
squared difference of the filtered trains, each width normalised by the teacher's mean square.

Delays are applied in whole steps (``round(delay / dt)``), so the student can at best land in
the teacher's step: the error is reported against the hidden delays in ms.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import network
from ..inputs import Drive, poisson_spikes
from ..train.bounded import bounded_delay, raw_delay
from ..train.gradients import Mode
from ..train.loop import Callback, fit
from .feedforward import parse_queue
from .raster import Raster

__all__ = [
    "DelayRecoveryResult",
    "Teacher",
    "alpha_filtered",
    "delay_recovery",
    "delay_recovery_raster",
    "teacher",
]


@dataclasses.dataclass(frozen=True)
class DelayRecoveryResult:
    """``hidden_ms`` and ``learned_ms`` ``(n_inputs, n_outputs)``; ``max_error_ms``,
    ``mean_error_ms`` (absolute, over synapses); ``within`` (fraction of synapses within
    ``tolerance_ms``); ``initial_mean_error_ms``; ``losses`` per step; ``output_spikes`` (the
    teacher's, all trials); ``steps``."""

    hidden_ms: np.ndarray
    learned_ms: np.ndarray
    max_error_ms: float
    mean_error_ms: float
    within: float
    tolerance_ms: float
    initial_mean_error_ms: float
    losses: np.ndarray
    output_spikes: int
    steps: int


def alpha_filtered(
    spike_ms: jax.Array, dt_ms: float, tau_ms: float, every: int = 1, max_spikes: int = 64
) -> jax.Array:
    """Spike trains ``(T, n)`` (times in ms, -1 where silent) filtered with the alpha kernel
    ``(u / tau) exp(1 - u / tau)`` (``u`` the time since each spike), sampled at the start of
    every ``every``-th step: ``(ceil(T / every), n)``. Differentiable in the spike times.

    Only the first ``max_spikes`` spikes of each train count (the trains are compacted by
    sorting first, so the cost is ``samples x max_spikes x n``, not ``samples x T x n``)."""
    times = jnp.sort(jnp.where(spike_ms >= 0, spike_ms, jnp.inf), axis=0)[:max_spikes]
    t = jnp.arange(0, spike_ms.shape[0], every, dtype=jnp.float32) * dt_ms
    since = t[:, None, None] - times[None, :, :]
    after = jnp.isfinite(times)[None] & (since > 0)
    x = jnp.where(after, since / tau_ms, 0.0)
    return jnp.sum(jnp.where(after, x * jnp.exp(1.0 - x), 0.0), axis=1)


@dataclasses.dataclass(frozen=True)
class Teacher:
    """The task's fixed world, drawn from one seed: the layer ``net``, ``weight`` and
    ``hidden_ms`` (the teacher's delays) ``(n_inputs, n_outputs)``, and the input trains
    ``spikes_in`` ``(trials, T, n_inputs)`` (ms where an input spiked in a step, -1 where not)."""

    net: network.Network
    weight: jax.Array
    hidden_ms: jax.Array
    spikes_in: jax.Array
    tau_syn_ms: float
    tau_mem_ms: float

    def simulate(self, delays_ms: jax.Array, spikes_in: jax.Array) -> network.SimResult:
        """The layer with synapse delays ``delays_ms`` ``(n_inputs, n_outputs)`` driven by one
        trial's ``spikes_in`` ``(T, n_inputs)``."""
        params = network.NetworkParams(
            input_weight=self.weight,
            input_delay_ms=delays_ms,
            tau_syn_ms=jnp.float32(self.tau_syn_ms),
            tau_mem_ms=jnp.float32(self.tau_mem_ms),
            vthres=jnp.float32(1.0),
        )
        return network.simulate(self.net, params, Drive(spikes_ms=spikes_in))


def teacher(
    *,
    n_inputs: int = 20,
    n_outputs: int = 20,
    trials: int = 64,
    rate_hz: float = 40.0,
    duration_ms: float = 25.0,
    dt_ms: float = 0.05,
    delay_range_ms: tuple[float, float] = (0.5, 4.5),
    max_delay_ms: float = 5.0,
    weight_range: tuple[float, float] = (0.3, 0.8),
    tau_syn_ms: float = 1.0,
    tau_mem_ms: float = 2.0,
    queue: str = "history:4",
    seed: int = 0,
) -> Teacher:
    """Draw the task's world (see the module doc): excitatory weights uniform in
    ``weight_range``, hidden delays uniform in ``delay_range_ms`` (ms), ``trials`` Poisson input
    trains at ``rate_hz`` over ``duration_ms``; every draw from ``seed``."""
    low, high = delay_range_ms
    if not 0 <= low < high <= max_delay_ms:
        raise ValueError(
            f"delay_range_ms must satisfy 0 <= low < high <= max_delay_ms ({max_delay_ms}), "
            f"got {delay_range_ms}"
        )
    arrangement, kind, history = parse_queue(queue)
    n_steps = int(round(duration_ms / dt_ms))
    net = network.Network(
        n_neurons=n_outputs,
        n_inputs=n_inputs,
        recurrent=False,
        dt_ms=dt_ms,
        max_delay_ms=max_delay_ms,
        arrangement=arrangement,
        queue=kind,
        history=history,
        record_voltage=(),
        checkpoint=None,
    ).validate()
    k_weight, k_delay, k_input = jax.random.split(jax.random.key(seed), 3)
    shape = (n_inputs, n_outputs)
    weight = jax.random.uniform(k_weight, shape, minval=weight_range[0], maxval=weight_range[1])
    hidden = jax.random.uniform(k_delay, shape, minval=low, maxval=high)
    spikes_in = jax.vmap(lambda k: poisson_spikes(k, rate_hz, n_steps, n_inputs, dt_ms))(
        jax.random.split(k_input, trials)
    )
    return Teacher(net, weight, hidden, spikes_in, tau_syn_ms, tau_mem_ms)


def delay_recovery_raster(delays_ms: jax.Array, *, trial: int = 0, **settings) -> Raster:
    """Spikes of one trial: the inputs (``"inputs"``), the teacher's outputs (``"teacher"``) and
    the outputs with the student's ``delays_ms`` ``(n_inputs, n_outputs)`` (``"student"``);
    ``settings``: the keywords of :func:`teacher` (the task's defaults otherwise)."""
    world = teacher(**settings)
    trials, _, n_inputs = world.spikes_in.shape
    if not 0 <= trial < trials:
        raise ValueError(f"trial must lie in [0, {trials}), got {trial}")
    delays = np.asarray(delays_ms, np.float32)
    if delays.shape != world.hidden_ms.shape:
        raise ValueError(
            f"delays_ms must have shape {world.hidden_ms.shape} (n_inputs, n_outputs), "
            f"got {delays.shape}"
        )
    max_delay_ms = world.net.max_delay_ms
    if not np.all((delays >= 0) & (delays <= max_delay_ms)):
        raise ValueError(f"delays_ms must lie in [0, max_delay_ms={max_delay_ms}]")
    spikes = world.spikes_in[trial]
    tables = (
        ("inputs", np.asarray(spikes)),
        ("teacher", np.asarray(world.simulate(world.hidden_ms, spikes).spike_ms)),
        ("student", np.asarray(world.simulate(jnp.asarray(delays), spikes).spike_ms)),
    )
    return Raster.from_tables(tables, world.net.dt_ms)


def delay_recovery(
    *,
    n_inputs: int = 20,
    n_outputs: int = 20,
    trials: int = 64,
    rate_hz: float = 40.0,
    duration_ms: float = 25.0,
    dt_ms: float = 0.05,
    delay_range_ms: tuple[float, float] = (0.5, 4.5),
    max_delay_ms: float = 5.0,
    initial_delay_ms: float = 2.5,
    weight_range: tuple[float, float] = (0.3, 0.8),
    tau_syn_ms: float = 1.0,
    tau_mem_ms: float = 2.0,
    kernels_ms: tuple[float, ...] = (3.0, 1.0),
    sample_every: int = 2,
    steps: int = 600,
    learning_rate: float = 0.05,
    optimizer: optax.GradientTransformation | None = None,
    mode: Mode = "reverse",
    queue: str = "history:4",
    tolerance_ms: float = 0.1,
    seed: int = 0,
    callback: Callback | None = None,
    every: int = 1,
) -> DelayRecoveryResult:
    """Run the task (see the module doc); every random draw comes from ``seed``.
    ``optimizer`` defaults to Adam at ``learning_rate`` with cosine decay to 2% over
    ``steps``; ``mode``: ``"reverse"`` (right for
    the ``n_inputs * n_outputs`` delays) or ``"forward"``; ``callback(step, loss, raw_delays,
    grads)`` every ``every`` steps (``False`` stops), delays ``bounded_delay(raw_delays,
    max_delay_ms)``."""
    if not kernels_ms or any(not k > 0 for k in kernels_ms):
        raise ValueError(f"kernels_ms must be one or more positive widths (ms), got {kernels_ms}")
    world = teacher(
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        trials=trials,
        rate_hz=rate_hz,
        duration_ms=duration_ms,
        dt_ms=dt_ms,
        delay_range_ms=delay_range_ms,
        max_delay_ms=max_delay_ms,
        weight_range=weight_range,
        tau_syn_ms=tau_syn_ms,
        tau_mem_ms=tau_mem_ms,
        queue=queue,
        seed=seed,
    )
    hidden, spikes_in, shape = world.hidden_ms, world.spikes_in, world.hidden_ms.shape

    def observed(delays, spikes):
        result = world.simulate(delays, spikes)
        traces = [alpha_filtered(result.spike_ms, dt_ms, k, sample_every) for k in kernels_ms]
        return jnp.stack(traces), result.spikes

    targets, teacher_spikes = jax.jit(jax.vmap(observed, in_axes=(None, 0)))(hidden, spikes_in)

    power = jnp.mean(targets**2, axis=(0, 2, 3))  # per kernel, (len(kernels_ms),)
    power = jnp.where(power > 0, power, 1.0)

    def loss(raw, example):
        spikes, target = example
        traces, _ = observed(bounded_delay(raw, max_delay_ms), spikes)
        return jnp.mean(jnp.mean((traces - target) ** 2, axis=(1, 2)) / power)

    start = jnp.broadcast_to(jnp.asarray(initial_delay_ms, jnp.float32), shape)
    raw = raw_delay(start, max_delay_ms)
    batch = (spikes_in, targets)
    result = fit(
        loss,
        raw,
        steps=steps,
        optimizer=optimizer
        or optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.02)),
        batches=lambda step: batch,
        per_example=True,
        mode=mode,
        callback=callback,
        every=every,
    )
    learned = np.asarray(bounded_delay(result.params, max_delay_ms))
    hidden_np = np.asarray(hidden)
    error = np.abs(learned - hidden_np)
    return DelayRecoveryResult(
        hidden_ms=hidden_np,
        learned_ms=learned,
        max_error_ms=float(error.max()),
        mean_error_ms=float(error.mean()),
        within=float(np.mean(error <= tolerance_ms)),
        tolerance_ms=float(tolerance_ms),
        initial_mean_error_ms=float(np.abs(np.asarray(start) - hidden_np).mean()),
        losses=result.losses,
        output_spikes=int(np.sum(np.asarray(teacher_spikes))),
        steps=result.step,
    )
