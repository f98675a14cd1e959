"""Yin-Yang classification with a time-to-first-spike network, learned delays and weights.

Encoding: each feature ``f`` of ``(x, y, 1 - x, 1 - y)`` is one input spike at
``t_early_ms + f * (t_late_ms - t_early_ms)``, plus a bias spike at ``bias_ms`` (5 inputs); spike
times are rounded to the step grid, and the mirrored features ``1 - x``, ``1 - y`` are shifted by
half a step (``dither``) so that the rounded pair resolves half a step. Network:
``5 -> hidden -> 3`` LIF layers (:class:`~adseq_lab.tasks.feedforward.Feedforward`), every
synapse with its own weight and delay. The class is the output neuron that fires first
(:func:`~adseq_lab.tasks.ttfs.first_spike_times`); an example where no output spikes has no
decision and counts as wrong.

Loss per example (Göltz et al. 2021): cross-entropy of ``softmax(-t / tau_loss_ms)`` plus
``alpha * (exp(t_label / beta_ms) - 1)``, which asks the correct neuron to fire early (a
silent output's time lies above ``t_max``, closer the nearer its voltage came to threshold, so
the loss also pulls silent neurons towards firing).
Training: Adam (weights and delays at their own learning rates; delays frozen with
``learn_delays=False``), cosine decay, gradient clipping, per-example reverse-mode gradients;
the parameters with the best validation accuracy are kept and tested.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..spikes import NO_SPIKE
from ..train.gradients import Mode
from ..train.loop import Callback, fit
from ..xla_options import compiler_options
from .feedforward import Feedforward, LayerParams
from .raster import Raster
from .ttfs import first_spike_times
from .yinyang_data import YinYangData, YinYangSplits, yinyang_splits

__all__ = [
    "YinYangConfig",
    "YinYangResult",
    "encode",
    "evaluate",
    "example_loss",
    "predictions",
    "train_yinyang",
    "yinyang_raster",
]


@dataclasses.dataclass(frozen=True)
class YinYangConfig:
    """Every setting of a Yin-Yang run (times in ms). Defaults: the ``adseq-lab yinyang`` run."""

    hidden: int = 100
    epochs: int = 60
    batch_size: int = 25
    learning_rate: float = 1e-2
    delay_learning_rate: float = 1e-2
    learn_delays: bool = True
    clip_norm: float = 10.0
    seed: int = 0
    train_size: int = 5000
    validation_size: int = 1000
    test_size: int = 1000
    dt_ms: float = 0.05
    steps: int = 200
    t_early_ms: float = 0.0
    t_late_ms: float = 3.0
    bias_ms: float = 0.0
    dither: bool = True
    tau_syn_ms: float = 1.0
    tau_mem_ms: float = 2.0
    max_delay_ms: float = 2.0
    init_delay_ms: float = 0.5
    init_delay_spread_ms: float = 0.25
    weight_mean: tuple[float, float] = (0.6, 0.3)
    weight_std: tuple[float, float] = (1.0, 0.4)
    queue: str = "history:2"
    input_queue: str | None = "history:1"
    tau_loss_ms: float = 0.5
    alpha: float = 0.005
    beta_ms: float = 2.0

    def __post_init__(self) -> None:
        for name in ("hidden", "epochs", "batch_size", "steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("train_size", "validation_size", "test_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.batch_size > self.train_size:
            raise ValueError(
                f"batch_size must be <= train_size ({self.train_size}), got {self.batch_size}"
            )
        if not 0 <= self.t_early_ms < self.t_late_ms:
            raise ValueError(
                f"need 0 <= t_early_ms < t_late_ms, got {self.t_early_ms}, {self.t_late_ms}"
            )
        window = self.steps * self.dt_ms
        if max(self.t_late_ms + self.dt_ms, self.bias_ms) >= window:
            raise ValueError(
                f"input spikes up to {self.t_late_ms} ms need steps * dt_ms > that; "
                f"got {self.steps} * {self.dt_ms} = {window} ms"
            )

    @property
    def t_max_ms(self) -> float:
        """The simulated window, ``steps * dt_ms``."""
        return self.steps * self.dt_ms

    def model(self) -> Feedforward:
        return Feedforward(
            sizes=(5, self.hidden, 3),
            dt_ms=self.dt_ms,
            max_delay_ms=self.max_delay_ms,
            tau_syn_ms=self.tau_syn_ms,
            tau_mem_ms=self.tau_mem_ms,
            queue=self.queue,
            input_queue=self.input_queue,
        )

    def init(self, key: jax.Array) -> list[LayerParams]:
        """Initial parameters (training starts from ``init(jax.random.key(seed))``)."""
        return self.model().init(
            key,
            self.weight_mean,
            self.weight_std,
            self.init_delay_ms,
            self.init_delay_spread_ms,
        )


def encode(features: jax.Array, config: YinYangConfig) -> jax.Array:
    """``(steps, 5)`` input spike times (ms, -1 where silent) of one example's ``(4,)``
    features; the last input is the bias."""
    span = config.t_late_ms - config.t_early_ms
    times = config.t_early_ms + jnp.asarray(features, jnp.float32) * span
    if config.dither:
        times = times + jnp.array([0.0, 0.0, 0.5, 0.5]) * config.dt_ms
    times = jnp.concatenate([times, jnp.array([config.bias_ms], jnp.float32)])
    steps = jnp.round(times / config.dt_ms).astype(jnp.int32)
    on_grid = steps.astype(jnp.float32) * config.dt_ms
    table = jnp.full((config.steps, 5), NO_SPIKE, jnp.float32)
    return table.at[steps, jnp.arange(5)].set(on_grid)


def _forward(params, features, config: YinYangConfig):
    results = config.model().simulate(params, encode(features, config))
    times, spiked = first_spike_times(
        results[-1],
        dt_ms=config.dt_ms,
        vthres=1.0,
        t_max_ms=config.t_max_ms,
        slope_ms=config.tau_mem_ms,
    )
    return times, spiked, results


def example_loss(
    params: list[LayerParams], example: tuple[jax.Array, jax.Array], config: YinYangConfig
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Loss of one ``(features (4,), label ())`` example and ``{"correct", "silent"}``."""
    features, label = example
    times, spiked, _ = _forward(params, features, config)
    log_p = jax.nn.log_softmax(-times / config.tau_loss_ms)
    t_label = jnp.minimum(times[label], config.t_max_ms + config.tau_mem_ms)
    loss = -log_p[label] + config.alpha * (jnp.exp(t_label / config.beta_ms) - 1.0)
    return loss, {"correct": _decide(times, spiked) == label, "silent": ~jnp.any(spiked)}


def _decide(times: jax.Array, spiked: jax.Array) -> jax.Array:
    """The first output to spike, or -1 (no decision) when none does."""
    return jnp.where(jnp.any(spiked), jnp.argmin(times), -1)


def predictions(
    params: list[LayerParams], features: jax.Array, config: YinYangConfig
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """For one example's ``(4,)`` features: ``(predicted class (-1 when no output spikes),
    no output spike, dropped events (all layers), hidden spikes)``. ``jax.vmap`` it over
    examples."""
    times, spiked, results = _forward(params, features, config)
    dropped = sum(jnp.sum(r.dropped) for r in results)
    return _decide(times, spiked), ~jnp.any(spiked), dropped, jnp.sum(results[0].spikes)


def _predict(config: YinYangConfig) -> Callable:
    batched = jax.vmap(lambda p, x: predictions(p, x, config), in_axes=(None, 0))
    return jax.jit(batched, compiler_options=compiler_options())


def evaluate(
    params: list[LayerParams],
    data: YinYangData,
    config: YinYangConfig,
    batch_size: int = 500,
    predict: Callable | None = None,
) -> dict[str, float]:
    """``accuracy``, ``silent`` (fraction without any output spike), ``dropped_events`` (all
    layers, all examples) and ``hidden_spikes`` (mean per example) on ``data``, in chunks of
    ``batch_size`` examples (``predict``: a compiled batched :func:`predictions` for that
    chunk size, built if not given)."""
    predict = _predict(config) if predict is None else predict
    outputs = []
    size = min(batch_size, len(data))
    for start in range(0, len(data), size):
        chunk = data.features[start : start + size]
        count = len(chunk)
        if count < size:  # pad the last chunk: one compiled shape for every call
            chunk = np.concatenate([chunk, data.features[: size - count]])
        outputs.append([np.asarray(a)[:count] for a in predict(params, jnp.asarray(chunk))])
    prediction, silent, dropped, spikes = (
        np.concatenate(parts) for parts in zip(*outputs, strict=True)
    )
    return {
        "accuracy": float(np.mean(prediction == data.labels)),
        "silent": float(np.mean(silent)),
        "dropped_events": int(np.sum(dropped)),
        "hidden_spikes": float(np.mean(spikes)),
    }


@dataclasses.dataclass(frozen=True)
class YinYangResult:
    """A finished run: ``params`` (best validation), accuracies, ``history`` (per epoch:
    ``epoch``, ``loss`` (mean over the epoch), ``train_accuracy`` (on as many training
    examples as the validation set has), ``validation_accuracy``, ``validation_silent``,
    ``seconds``), totals."""

    config: YinYangConfig
    params: list[LayerParams]
    test_accuracy: float
    validation_accuracy: float
    best_epoch: int
    epochs: int
    seconds: float
    history: list[dict[str, float]]
    test: dict[str, float]
    stopped: bool

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures of the run."""
        delays = [np.asarray(d) for d in self.config.model().delays(self.params)]
        return {
            "test_accuracy": self.test_accuracy,
            "validation_accuracy": self.validation_accuracy,
            "best_epoch": self.best_epoch,
            "epochs": self.epochs,
            "seconds": round(self.seconds, 1),
            "learned_delays": self.config.learn_delays,
            "hidden": self.config.hidden,
            "queue": self.config.queue,
            "seed": self.config.seed,
            "test_silent": self.test["silent"],
            "test_dropped_events": self.test["dropped_events"],
            "delay_ms_mean": [float(d.mean()) for d in delays],
            "delay_ms_std": [float(d.std()) for d in delays],
            "stopped": self.stopped,
        }


def _optimizer(
    config: YinYangConfig,
    total_steps: int,
    given: optax.GradientTransformation | None = None,
) -> optax.GradientTransformation:
    def adam(rate: float) -> optax.GradientTransformation:
        return optax.adam(optax.cosine_decay_schedule(rate, total_steps, alpha=0.05))

    weights = adam(config.learning_rate) if given is None else given
    delays = adam(config.delay_learning_rate) if given is None else given
    delays = delays if config.learn_delays else optax.set_to_zero()
    labels = lambda params: [LayerParams("weight", "delay") for _ in params]  # noqa: E731
    return optax.multi_transform({"weight": weights, "delay": delays}, labels)


def train_yinyang(
    config: YinYangConfig = YinYangConfig(),
    *,
    data: YinYangSplits | None = None,
    progress: bool = False,
    epoch_callback: Callable[[dict[str, float], list[LayerParams]], bool | None] | None = None,
    stop: Any = None,
    callback: Callback | None = None,
    mode: Mode = "reverse",
    optimizer: optax.GradientTransformation | None = None,
) -> YinYangResult:
    """Train and test (see the module doc). ``epoch_callback(record, params)`` after each epoch
    (``record`` as in ``history``); returning ``False`` stops, as does ``stop.is_set()``.

    ``callback(step, loss, params, grads)`` after every optimiser step (``params``: the current
    :class:`LayerParams`, raw delays; ``grads``: unclipped); returning ``False`` stops, after
    that step's epoch record if it ends an epoch. ``mode``: the gradient mode of
    :func:`adseq_lab.train.fit`. ``optimizer`` replaces the default Adam (its own learning
    rate per group, cosine decay) for weights and delays; with ``learn_delays=False`` the delays
    stay frozen either way."""
    start_time = time.perf_counter()
    data = data or yinyang_splits(config.train_size, config.validation_size, config.test_size)
    params = config.init(jax.random.key(config.seed))
    key_order = jax.random.fold_in(jax.random.key(config.seed), 1)
    per_epoch = len(data.train) // config.batch_size
    total = per_epoch * config.epochs
    order_rng = np.random.default_rng(np.asarray(jax.random.key_data(key_order)))
    orders: dict[int, np.ndarray] = {}
    features, labels = data.train.features, data.train.labels

    def batch(step: int):
        epoch, index = divmod(step, per_epoch)
        if epoch not in orders:
            orders.clear()
            orders[epoch] = order_rng.permutation(len(features))
        chosen = orders[epoch][index * config.batch_size : (index + 1) * config.batch_size]
        return jnp.asarray(features[chosen]), jnp.asarray(labels[chosen])

    predict = _predict(config)
    probe = slice(0, min(len(data.train), len(data.validation)))
    train_probe = YinYangData(data.train.features[probe], data.train.labels[probe])
    history: list[dict[str, float]] = []
    best = {"accuracy": -1.0, "params": params, "epoch": 0}
    epoch_losses: list[float] = []

    def on_step(step, loss, current, grads):
        epoch_losses.append(loss)
        go_on = callback is None or callback(step, loss, current, grads) is not False
        if step % per_epoch:
            return go_on
        validation = evaluate(current, data.validation, config, predict=predict)
        train = evaluate(current, train_probe, config, predict=predict)
        record = {
            "epoch": step // per_epoch,
            "loss": float(np.mean(epoch_losses[-per_epoch:])),
            "train_accuracy": train["accuracy"],
            "validation_accuracy": validation["accuracy"],
            "validation_silent": validation["silent"],
            "seconds": time.perf_counter() - start_time,
        }
        history.append(record)
        if validation["accuracy"] > best["accuracy"]:
            best.update(accuracy=validation["accuracy"], params=current, epoch=record["epoch"])
        if epoch_callback is not None and epoch_callback(record, current) is False:
            return False
        return go_on

    result = fit(
        lambda p, example: example_loss(p, example, config),
        params,
        steps=total,
        optimizer=_optimizer(config, total, optimizer),
        batches=batch,
        mode=mode,
        per_example=True,
        has_aux=True,
        clip_norm=config.clip_norm,
        callback=on_step,
        stop=stop,
        progress=progress,
        description="yin-yang" + (" (delays learned)" if config.learn_delays else ""),
    )
    test = evaluate(best["params"], data.test, config, predict=predict)
    return YinYangResult(
        config=config,
        params=best["params"],
        test_accuracy=test["accuracy"],
        validation_accuracy=best["accuracy"],
        best_epoch=int(best["epoch"]),
        epochs=len(history),
        seconds=time.perf_counter() - start_time,
        history=history,
        test=test,
        stopped=result.stopped,
    )


_encode = jax.jit(encode, static_argnums=1)


@functools.partial(jax.jit, static_argnums=0)
def _layer_spikes(model: Feedforward, params: list[LayerParams], table: jax.Array):
    """Every layer's ``spike_ms``; compiled once per model, whatever the training settings."""
    return [result.spike_ms for result in model.simulate(params, table)]


def yinyang_raster(
    params: list[LayerParams], features: jax.Array | np.ndarray, config: YinYangConfig
) -> Raster:
    """Spikes of the network with ``params`` (raw delays, as in training) on one example's
    ``(4,)`` features: ``"inputs"`` (the 5 encoded spikes, :func:`encode`), ``"hidden"``
    (``config.hidden``) and ``"outputs"`` (3, in class order), over ``config.t_max_ms``."""
    features = np.asarray(features, np.float32)
    if features.shape != (4,):
        raise ValueError(f"features must be one example's (4,) features, got {features.shape}")
    sizes = config.model().sizes
    expected = [(n_pre, n_post) for n_pre, n_post in zip(sizes[:-1], sizes[1:], strict=True)]
    found = [(np.shape(p.weight), np.shape(p.raw_delay)) for p in params]
    if found != [(shape, shape) for shape in expected]:
        raise ValueError(
            f"params must be {len(expected)} LayerParams with weight and raw_delay shaped "
            f"{expected} (config.hidden={config.hidden}), got {found}"
        )
    table = _encode(jnp.asarray(features), config)
    spikes = _layer_spikes(config.model(), list(params), table)
    names = ("inputs", "hidden", "outputs")
    tables = zip(names, [table, *spikes], strict=True)
    return Raster.from_tables([(name, np.asarray(t)) for name, t in tables], config.dt_ms)
