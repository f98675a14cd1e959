"""Delay recovery: a student layer learns the hidden per-synapse delays of a teacher layer.

A teacher feedforward layer (``n_inputs x n_outputs`` LIF synapses, excitatory weights drawn
uniformly in ``weight_range`` and known to both, delays hidden, drawn uniformly in
``delay_range_ms``) turns random input spike trains (``trials`` independent Poisson trains at
``rate_hz``) into output spike trains. A student with the same
weights starts from one common delay and learns its delays (bounded onto ``[0, max_delay_ms]``)
by reverse mode, in two stages.

1. *Spike-train fit* (``steps``). Each output train is filtered with alpha kernels
   ``(t / tau) exp(1 - t / tau)`` of the widths ``kernels_ms`` (continuous at the spike, so the
   derivative with respect to a spike time is exact; the wide kernel sees delays that are far
   off, the narrow one places them precisely); the loss is the mean squared difference of the
   filtered trains, each width normalised by the teacher's mean square. This brings every delay
   near its hidden value, but it stalls in local minima where a student spike is missing or
   extra (a spike that does not exist has no time to differentiate) and a few delays of one
   output compensate each other, typically 2-5 steps off.
2. *Teacher-forced refinement* (``refine_steps``, :func:`forced_losses`). The outputs reset at
   the teacher's spikes instead of their own, and the loss asks each voltage to reach the
   threshold exactly in the steps where the teacher's did and to stay below it elsewhere. Each
   stretch between teacher spikes then stands on its own and a missing spike still has a
   gradient (its voltage below threshold), so the refinement leaves those minima. At the
   20 x 20 defaults (seeds 0-3) the fit alone left 97.8-99.25% of the delays within 0.1 ms and
   the worst 0.16-0.44 ms off; the refinement's 200 steps (about 10 s on one core) took every
   delay to within 0.05 ms (one step), without restarts. It needs the fit's start: from the
   common initial delay alone, a few outputs stall with delays far off. Each output keeps
   the refined delays only where its spike-train loss does not rise (in small layers with few
   trials the refinement can lower its own loss and raise the spike-train loss).

Restarts. The loss is a sum over output neurons, and output ``j`` depends only on column ``j``
of the delays. Delays act in whole steps (``round(delay / dt)``) and spikes are reported at step
times, so a column whose delays fall in the teacher's steps reproduces the teacher's trains
exactly: its loss is exactly 0. A column whose loss stays above 0 after training is therefore in
a wrong basin. Such columns are trained again (fit and refinement) from delays drawn uniformly
in ``delay_range_ms``, on a sub-layer that holds only them (``n_inputs x n_failed``, cheaper
than the full layer), for up to ``restarts`` rounds; each column keeps the lowest-loss delays
found, so a restart never makes it worse. They are off by default (``restarts=0``): a lower
loss fits the data better, and that pins the delays down only where the data are rich enough
(in notebook 5's small layer with few trials restarts lowered the loss and raised the mean
error).

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
from ..inputs import Drive, forced_resets, poisson_spikes
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
    "forced_losses",
    "observable_delays",
    "observed",
    "teacher",
]

THRESHOLD = 1.0
"""The output neurons' firing threshold (the voltage of a LIF neuron at rest is 0)."""


@dataclasses.dataclass(frozen=True)
class DelayRecoveryResult:
    """``hidden_ms``, ``learned_ms`` and ``fitted_ms`` (the first spike-train fit's delays,
    where the trajectories the callback sees end, before the refinement and the restarts)
    ``(n_inputs, n_outputs)``; ``max_error_ms``,
    ``mean_error_ms`` (absolute, over synapses); ``within`` (fraction of synapses within
    ``tolerance_ms``); ``initial_mean_error_ms``; ``losses`` per step and ``steps`` of the first
    run (the full layer); ``output_spikes`` (the teacher's, all trials); ``first_column_losses``
    and ``column_losses`` ``(n_outputs,)``: each output's loss after the first run and at the end
    (0 where its trains match the teacher's); ``restarted``: the outputs trained again at least
    once; ``rounds``: restart rounds run; ``observable``: the fraction of delays the data can
    see at ``tolerance_ms`` (:func:`observable_delays`)."""

    hidden_ms: np.ndarray
    learned_ms: np.ndarray
    fitted_ms: np.ndarray
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

    @property
    def fit_error_ms(self) -> np.ndarray:
        """``|fitted_ms - hidden_ms|`` ``(n_inputs, n_outputs)``: the fit's error alone."""
        return np.abs(self.fitted_ms - self.hidden_ms)


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

    def simulate(
        self, delays_ms: jax.Array, spikes_in: jax.Array, forced_spikes: jax.Array | None = None
    ) -> network.SimResult:
        """The layer with synapse delays ``delays_ms`` ``(n_inputs, n_outputs)`` driven by one
        trial's ``spikes_in`` ``(T, n_inputs)``. With ``forced_spikes`` ``(T, n_outputs)``
        bool (teacher forcing, see :class:`~adseq_lab.inputs.Drive`) the outputs spike and
        reset exactly there, and every output's voltage is recorded."""
        params = network.NetworkParams(
            input_weight=self.weight,
            input_delay_ms=delays_ms,
            tau_syn_ms=jnp.float32(self.tau_syn_ms),
            tau_mem_ms=jnp.float32(self.tau_mem_ms),
            vthres=jnp.float32(THRESHOLD),
        )
        net = (
            self.net
            if forced_spikes is None
            else dataclasses.replace(self.net, record_voltage=None)
        )
        return network.simulate(
            net, params, Drive(spikes_ms=spikes_in, forced_spikes=forced_spikes)
        )

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


def forced_losses(
    world: Teacher, delays_ms: jax.Array, spikes_in: jax.Array, teacher_spikes: jax.Array
) -> jax.Array:
    """Teacher forcing: how far each output's voltage is from crossing the threshold exactly
    where the teacher's did, ``(n_outputs,)``, for one trial (``spikes_in`` ``(T, n_inputs)``,
    the teacher's output spikes ``teacher_spikes`` ``(T, n_outputs)`` bool).

    The layer runs with ``delays_ms`` ``(n_inputs, n_outputs)`` and each output resets at the
    teacher's spikes, not its own. A teacher spike in step ``k`` means the voltage reached the
    threshold at ``t_{k+1}``; everywhere else it stayed below. Per output, the loss sums
    ``relu(threshold - v)^2`` over the steps where the threshold was reached and
    ``relu(v - threshold)^2`` over the others. It is 0 when the free-running layer reproduces
    ``teacher_spikes`` (by induction over the spikes; also when a voltage touches the threshold
    exactly where it should stay below). Unlike a distance between spike trains, it sees the
    spikes a student misses or adds, and each stretch between teacher spikes on its own, so its
    gradient does not stall where spike trains differ in their spike counts."""
    voltage = world.simulate(delays_ms, spikes_in, teacher_spikes).voltage  # (T, n_outputs)
    reached = forced_resets(teacher_spikes)
    below = jnp.where(reached, jax.nn.relu(THRESHOLD - voltage), 0.0)
    above = jnp.where(reached, 0.0, jax.nn.relu(voltage - THRESHOLD))
    return jnp.sum(below**2 + above**2, axis=0)


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
    refine_steps: int = 200,
    refine_learning_rate: float = 0.01,
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
    ``steps``; ``refine_steps``: steps of the teacher-forced refinement that follows
    (:func:`forced_losses`, Adam at ``refine_learning_rate`` with cosine decay; ``0``: none);
    ``mode``: ``"reverse"`` (right for the ``n_inputs * n_outputs`` delays) or ``"forward"``;
    ``restarts``: rounds in which the outputs whose loss is still above 0 train again (fit and
    refinement) from delays drawn uniformly in ``delay_range_ms`` (``0``: none);
    ``callback(step, loss, raw_delays, grads)`` every ``every`` steps of the first spike-train
    fit (``False`` stops, and neither refinement nor restarts follow), delays
    ``bounded_delay(raw_delays, max_delay_ms)``."""
    if not kernels_ms or any(not k > 0 for k in kernels_ms):
        raise ValueError(f"kernels_ms must be one or more positive widths (ms), got {kernels_ms}")
    for name, value in (("restarts", restarts), ("refine_steps", refine_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if not refine_learning_rate > 0:
        raise ValueError(f"refine_learning_rate must be > 0, got {refine_learning_rate}")
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
        ``(n_inputs, k)``: the spike-train fit (``on_step`` its callback), then the
        teacher-forced refinement, kept per output where it does not raise the output's
        spike-train loss. Returns the delays (ms) ``(n_inputs, k)`` after the fit and at the
        end, each output's loss at the end ``(k,)`` and the fit."""
        wanted, forced = targets[..., outputs], teacher_spikes[..., outputs]

        def spike_train_loss(raw, example):
            spikes, target = example
            delays = bounded_delay(raw, max_delay_ms)
            traces, _ = observed(layer, delays, spikes, kernels_ms, sample_every)
            return jnp.mean(column_losses(traces, target, power))

        def forced_loss(raw, example):
            spikes, target = example
            return jnp.mean(forced_losses(layer, bounded_delay(raw, max_delay_ms), spikes, target))

        fitted = fit(
            spike_train_loss,
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
        evaluate = all_trials(layer)
        fitted_ms = np.array(bounded_delay(fitted.params, max_delay_ms))
        learned = fitted_ms.copy()
        reached = np.array(column_losses(evaluate(fitted_ms)[0], wanted, power))
        if refine_steps and not fitted.stopped:
            schedule = optax.cosine_decay_schedule(refine_learning_rate, refine_steps, alpha=0.02)
            refined = fit(
                forced_loss,
                fitted.params,
                steps=refine_steps,
                optimizer=optax.adam(schedule),
                batches=lambda step: (world.spikes_in, forced),
                per_example=True,
                mode=mode,
            )
            refined_ms = np.array(bounded_delay(refined.params, max_delay_ms))
            refined_losses = np.array(column_losses(evaluate(refined_ms)[0], wanted, power))
            kept = refined_losses <= reached  # per output, the lower spike-train loss
            learned[:, kept] = refined_ms[:, kept]
            reached[kept] = refined_losses[kept]
        return fitted_ms, learned, reached, fitted

    start = jnp.full(hidden.shape, initial_delay_ms, jnp.float32)
    fitted_ms, learned, first_losses, first = train(world, np.arange(n_outputs), start, callback)
    best = first_losses.copy()
    restarted: set[int] = set()
    rounds = 0
    while rounds < restarts and not first.stopped and np.any(best > 0):
        failed = np.flatnonzero(best > 0)
        key = jax.random.fold_in(jax.random.key(seed), rounds + 1)
        redrawn = jax.random.uniform(
            key, (n_inputs, failed.size), minval=delay_range_ms[0], maxval=delay_range_ms[1]
        )
        _, delays, losses, _ = train(world.columns(failed), failed, redrawn, None)
        better = losses < best[failed]
        learned[:, failed[better]] = delays[:, better]
        best[failed[better]] = losses[better]
        restarted.update(failed.tolist())
        rounds += 1

    error = np.abs(learned - hidden)
    return DelayRecoveryResult(
        hidden_ms=hidden,
        learned_ms=learned,
        fitted_ms=fitted_ms,
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
