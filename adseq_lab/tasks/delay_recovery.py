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

Restarts. The loss is a sum over output neurons, and output ``j`` depends only on column ``j``
of the delays. Delays act in whole steps (``round(delay / dt)``) and spikes are reported at step
times, so a column whose delays fall in the teacher's steps reproduces the teacher's trains
exactly: its loss is exactly 0. A column whose loss stays above 0 after training is therefore in
a wrong basin (gradient descent stalls there, typically with a few delays 2-5 steps off). Such
columns are trained again from delays drawn uniformly in ``delay_range_ms``, on a sub-layer that
holds only them (``n_inputs x n_failed``, cheaper than the full layer), for up to ``restarts``
rounds; each column keeps the lowest-loss delays found, so a restart never makes it worse.
Restarts lower the number of failed columns; they do not guarantee that none is left.
They are off by default (``restarts=0``): a lower loss fits the data better, and that pins the
delays down only where the data are rich enough. At the 20 x 20 defaults four rounds lowered the
worst error (seed 0: 0.225 -> 0.200 ms, seed 1: 0.156 -> 0.120 ms) at three times the run time;
in notebook 5's small layer with few trials they lowered the loss and raised the mean error.

Identifiability. Zero loss recovers a delay only where the data constrain it: an input that
rarely contributes to an output's spikes leaves that delay free over a range of steps.
:func:`observable_delays` tells, from the teacher alone, which delays the data can see at all:
moving that one hidden delay by the tolerance (in whole steps) changes some output spike in some
trial. That is necessary for recovery, not sufficient (moves of several delays of one column
could still compensate each other). At the defaults (64 trials of 25 ms at 40 Hz) every delay
of the 20 x 20 layer is observable at 0.1 ms for seeds 0 and 1.

The error is reported against the hidden delays in ms; the student can at best land in the
teacher's step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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
    "column_losses",
    "delay_recovery",
    "delay_recovery_raster",
    "observable_delays",
    "observed",
    "teacher",
]


@dataclasses.dataclass(frozen=True)
class DelayRecoveryResult:
    """``hidden_ms`` and ``learned_ms`` ``(n_inputs, n_outputs)``; ``max_error_ms``,
    ``mean_error_ms`` (absolute, over synapses); ``within`` (fraction of synapses within
    ``tolerance_ms``); ``initial_mean_error_ms``; ``losses`` per step and ``steps`` of the first
    run (the full layer); ``output_spikes`` (the teacher's, all trials); ``first_column_losses``
    and ``column_losses`` ``(n_outputs,)``: each output's loss after the first run and at the end
    (0 where its trains match the teacher's); ``restarted``: the outputs trained again at least
    once; ``rounds``: restart rounds run; ``observable``: the fraction of delays the data can
    see at ``tolerance_ms`` (:func:`observable_delays`)."""

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
    first_column_losses: np.ndarray
    column_losses: np.ndarray
    restarted: tuple[int, ...]
    rounds: int
    observable: float


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

    def columns(self, outputs: np.ndarray) -> Teacher:
        """The sub-layer of the output neurons ``outputs`` (indices, ``(k,)``): the same inputs
        and trials, ``weight`` and ``hidden_ms`` ``(n_inputs, k)``. Output ``j`` depends only on
        column ``j`` of the weights and delays, so its trains are those of the full layer."""
        outputs = np.asarray(outputs, np.int64)
        if outputs.ndim != 1 or outputs.size == 0:
            raise ValueError(f"outputs must be one or more indices, got {outputs.tolist()}")
        return dataclasses.replace(
            self,
            net=dataclasses.replace(self.net, n_neurons=int(outputs.size)).validate(),
            weight=self.weight[:, outputs],
            hidden_ms=self.hidden_ms[:, outputs],
        )


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


def observed(
    world: Teacher,
    delays_ms: jax.Array,
    spikes_in: jax.Array,
    kernels_ms: tuple[float, ...],
    sample_every: int,
) -> tuple[jax.Array, jax.Array]:
    """One trial (``spikes_in`` ``(T, n_inputs)``) through ``world``'s layer with ``delays_ms``
    ``(n_inputs, n_outputs)``: the output trains filtered with each kernel, ``(len(kernels_ms),
    ceil(T / sample_every), n_outputs)``, and the output spikes ``(T, n_outputs)`` bool."""
    result = world.simulate(delays_ms, spikes_in)
    traces = [alpha_filtered(result.spike_ms, world.net.dt_ms, k, sample_every) for k in kernels_ms]
    return jnp.stack(traces), result.spikes


def column_losses(traces: jax.Array, targets: jax.Array, power: jax.Array) -> jax.Array:
    """The loss of each output neuron, ``(n_outputs,)``: the mean squared difference of
    ``traces`` and ``targets`` (``(..., kernels, samples, n_outputs)``, leading axes such as
    trials averaged too), each kernel divided by its ``power`` ``(kernels,)``, averaged over
    kernels. The task's loss is the mean over outputs."""
    if traces.shape != targets.shape or traces.ndim < 3:
        raise ValueError(
            f"traces and targets must share a shape (..., kernels, samples, n_outputs), "
            f"got {traces.shape} and {targets.shape}"
        )
    axes = (*range(traces.ndim - 3), traces.ndim - 2)
    per_kernel = jnp.mean((traces - targets) ** 2, axis=axes)  # (kernels, n_outputs)
    return jnp.mean(per_kernel / power[:, None], axis=0)


def observable_delays(world: Teacher, tolerance_ms: float) -> np.ndarray:
    """Which hidden delays the task's data can see, ``(n_inputs, n_outputs)`` bool: moving the
    hidden delay of that one synapse by ``+tolerance_ms`` or by ``-tolerance_ms`` (rounded up
    to whole steps, clipped into ``[0, max_delay_ms]``) changes some output spike of the
    teacher in some trial.

    Computed from the teacher only. One output depends on one column of delays, so a whole row
    (one input onto every output) moves at once: ``2 n_inputs`` simulations of all trials."""
    if not tolerance_ms > 0:
        raise ValueError(f"tolerance_ms must be > 0 (ms), got {tolerance_ms}")
    dt, top = world.net.dt_ms, world.net.max_delay_ms
    shift = network.delay_steps(tolerance_ms, dt) * dt
    n_inputs = world.hidden_ms.shape[0]

    def spikes(delays):  # (trials, T, n_outputs)
        return jax.vmap(lambda s: world.simulate(delays, s).spikes)(world.spikes_in)

    def seen(hidden):
        reference = spikes(hidden)
        rows = jnp.eye(n_inputs, dtype=hidden.dtype)[:, :, None]  # input i's row moved
        moved = [jnp.clip(hidden[None] + sign * shift * rows, 0.0, top) for sign in (1, -1)]
        return jax.lax.map(
            lambda delays: jnp.any(spikes(delays) != reference, axis=(0, 1)),
            jnp.concatenate(moved),
        )  # (2 n_inputs, n_outputs)

    both = np.asarray(jax.jit(seen)(world.hidden_ms))
    return both[:n_inputs] | both[n_inputs:]


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
    restarts: int = 0,
    tolerance_ms: float = 0.1,
    seed: int = 0,
    callback: Callback | None = None,
    every: int = 1,
) -> DelayRecoveryResult:
    """Run the task (see the module doc); every random draw comes from ``seed``.
    ``optimizer`` defaults to Adam at ``learning_rate`` with cosine decay to 2% over
    ``steps``; ``mode``: ``"reverse"`` (right for
    the ``n_inputs * n_outputs`` delays) or ``"forward"``; ``restarts``: rounds in which the
    outputs whose loss is still above 0 train again (``steps`` each) from delays drawn uniformly
    in ``delay_range_ms`` (``0``: none); ``callback(step, loss, raw_delays, grads)`` every
    ``every`` steps of the first run (``False`` stops, and no restart follows), delays
    ``bounded_delay(raw_delays, max_delay_ms)``."""
    if not kernels_ms or any(not k > 0 for k in kernels_ms):
        raise ValueError(f"kernels_ms must be one or more positive widths (ms), got {kernels_ms}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0:
        raise ValueError(f"restarts must be an integer >= 0, got {restarts!r}")
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
    hidden = np.asarray(world.hidden_ms)

    def all_trials(layer: Teacher) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
        """Every trial through ``layer`` with the given delays: :func:`observed`, stacked."""

        def one(delays, spikes):
            return observed(layer, delays, spikes, kernels_ms, sample_every)

        every_trial = jax.jit(jax.vmap(one, in_axes=(None, 0)))
        return lambda delays: every_trial(delays, world.spikes_in)

    targets, teacher_spikes = all_trials(world)(world.hidden_ms)  # (trials, kernels, samples, n)
    power = jnp.mean(targets**2, axis=(0, 2, 3))  # per kernel, (len(kernels_ms),)
    power = jnp.where(power > 0, power, 1.0)

    def train(layer: Teacher, outputs: np.ndarray, start_ms: jax.Array, on_step):
        """Train ``layer`` (the outputs ``outputs`` ``(k,)``) from ``start_ms``
        ``(n_inputs, k)``, with ``on_step`` as the fit's callback; returns the learned delays
        (ms) ``(n_inputs, k)``, each output's loss there ``(k,)`` and the fit."""
        wanted = targets[..., outputs]

        def loss(raw, example):
            spikes, target = example
            delays = bounded_delay(raw, max_delay_ms)
            traces, _ = observed(layer, delays, spikes, kernels_ms, sample_every)
            return jnp.mean(column_losses(traces, target, power))

        fitted = fit(
            loss,
            raw_delay(start_ms, max_delay_ms),
            steps=steps,
            optimizer=optimizer
            or optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.02)),
            batches=lambda step: (world.spikes_in, wanted),
            per_example=True,
            mode=mode,
            callback=on_step,
            every=every,
        )
        learned = bounded_delay(fitted.params, max_delay_ms)
        reached = column_losses(all_trials(layer)(learned)[0], wanted, power)
        return np.array(learned), np.array(reached), fitted

    start = jnp.full(hidden.shape, initial_delay_ms, jnp.float32)
    learned, first_losses, first = train(world, np.arange(n_outputs), start, callback)
    best = first_losses.copy()
    restarted: set[int] = set()
    rounds = 0
    while rounds < restarts and not first.stopped and np.any(best > 0):
        failed = np.flatnonzero(best > 0)
        key = jax.random.fold_in(jax.random.key(seed), rounds + 1)
        redrawn = jax.random.uniform(
            key, (n_inputs, failed.size), minval=delay_range_ms[0], maxval=delay_range_ms[1]
        )
        delays, losses, _ = train(world.columns(failed), failed, redrawn, None)
        better = losses < best[failed]
        learned[:, failed[better]] = delays[:, better]
        best[failed[better]] = losses[better]
        restarted.update(failed.tolist())
        rounds += 1

    error = np.abs(learned - hidden)
    return DelayRecoveryResult(
        hidden_ms=hidden,
        learned_ms=learned,
        max_error_ms=float(error.max()),
        mean_error_ms=float(error.mean()),
        within=float(np.mean(error <= tolerance_ms)),
        tolerance_ms=float(tolerance_ms),
        initial_mean_error_ms=float(np.abs(np.asarray(start) - hidden).mean()),
        losses=first.losses,
        output_spikes=int(np.sum(np.asarray(teacher_spikes))),
        steps=first.step,
        first_column_losses=first_losses,
        column_losses=best,
        restarted=tuple(sorted(restarted)),
        rounds=rounds,
        observable=float(np.mean(observable_delays(world, tolerance_ms))),
    )
