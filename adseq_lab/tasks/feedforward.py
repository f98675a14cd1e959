"""Layered feedforward spiking networks with learnable weights and bounded delays.

A :class:`Feedforward` is a stack of :class:`adseq_lab.network.Network` layers without
recurrence (``sizes = (n_inputs, hidden..., n_outputs)``) sharing ``dt_ms``, time constants
and the delay machinery (arrangement and queue kind, or spike history per neuron). Its
trainable parameters are one :class:`LayerParams` per layer: weights and *raw* delays mapped
onto ``[0, max_delay_ms]`` by :func:`adseq_lab.train.bounded_delay`, so a delay never leaves the
queues' reach. Each layer's spike times (with their tangents) drive the next layer
(:func:`adseq_lab.network.simulate_chain`); only the last layer records voltages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from .. import network, queues
from ..implementations.base import EventQueue, QueueType
from ..inputs import Drive
from ..train.bounded import bounded_delay, raw_delay

__all__ = ["Feedforward", "LayerParams", "parse_queue"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LayerParams:
    """``weight`` and ``raw_delay``, ``(n_pre, n_post)`` each; delay =
    ``bounded_delay(raw_delay, max_delay_ms)`` (ms)."""

    weight: jax.Array
    raw_delay: jax.Array


def parse_queue(spec: str) -> tuple[str, type[EventQueue] | QueueType | None, int]:
    """``(arrangement, queue, history)`` from a command-line spelling.

    ``"history:K"`` is the memory-lean per-neuron spike history with ``K`` slots; a registry
    name with an optional capacity after a colon (``"fifo_ring:2"``, ``"ring"``) is one queue of
    that kind per synapse.
    """
    name, _, size = spec.partition(":")
    try:
        capacity = int(size) if size else None
    except ValueError:
        raise ValueError(f"queue capacity must be an integer, got {spec!r}") from None
    if name == "history":
        if capacity is None or capacity < 1:
            raise ValueError(f"queue 'history:K' needs K >= 1, got {spec!r}")
        return "per_neuron", None, capacity
    entry = queues.info(name)
    if entry.has_capacity and capacity is None:
        raise ValueError(f"queue {name!r} needs a capacity, e.g. '{name}:4'")
    return "per_synapse", queues.get(name, capacity), 1


@dataclasses.dataclass(frozen=True)
class Feedforward:
    """Static description of a layered network (hashable; safe to close over in ``jit``).

    ``sizes``: ``(n_inputs, hidden..., n_outputs)``; ``dt_ms``; ``max_delay_ms`` (every
    layer); ``tau_syn_ms``, ``tau_mem_ms``, ``vthres`` (every neuron); ``queue``: see
    :func:`parse_queue`; ``input_queue``: the same for the first layer, whose inputs spike once
    (default: ``queue``).
    """

    sizes: tuple[int, ...]
    dt_ms: float = 0.05
    max_delay_ms: float = 2.0
    tau_syn_ms: float = 1.0
    tau_mem_ms: float = 2.0
    vthres: float = 1.0
    queue: str = "history:2"
    input_queue: str | None = None

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in self.sizes):
            raise ValueError(f"sizes must be at least two positive ints, got {self.sizes!r}")
        for name in ("dt_ms", "max_delay_ms", "tau_syn_ms", "tau_mem_ms", "vthres"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        parse_queue(self.queue)
        if self.input_queue is not None:
            parse_queue(self.input_queue)

    def networks(self) -> list[network.Network]:
        """One :class:`~adseq_lab.network.Network` per layer (voltages recorded in the last)."""
        layers = []
        last = len(self.sizes) - 2
        for index, (n_pre, n_post) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            spec = self.queue if index or self.input_queue is None else self.input_queue
            arrangement, queue, history = parse_queue(spec)
            layers.append(
                network.Network(
                    n_neurons=n_post,
                    n_inputs=n_pre,
                    recurrent=False,
                    dt_ms=self.dt_ms,
                    max_delay_ms=self.max_delay_ms,
                    arrangement=arrangement,
                    queue=queue,
                    history=history,
                    record_voltage=None if index == last else (),
                    checkpoint=None,
                ).validate()
            )
        return layers

    def delays(self, params: Sequence[LayerParams]) -> list[jax.Array]:
        """Each layer's delays in ms."""
        return [bounded_delay(p.raw_delay, self.max_delay_ms) for p in params]

    def init(
        self,
        key: jax.Array,
        weight_mean: Sequence[float],
        weight_std: Sequence[float],
        delay_ms: Sequence[float] | float,
        delay_spread_ms: float = 0.0,
    ) -> list[LayerParams]:
        """Normal weights (``weight_mean[l]``, ``weight_std[l]`` per layer) and delays drawn
        uniformly in ``delay_ms[l] +- delay_spread_ms`` (clipped into the range)."""
        count = len(self.sizes) - 1
        delay_ms = [delay_ms] * count if isinstance(delay_ms, int | float) else list(delay_ms)
        if not len(weight_mean) == len(weight_std) == len(delay_ms) == count:
            raise ValueError(f"weight_mean, weight_std and delay_ms need {count} entries")
        params = []
        for index, k in enumerate(jax.random.split(key, count)):
            shape = (self.sizes[index], self.sizes[index + 1])
            k_weight, k_delay = jax.random.split(k)
            weight = weight_mean[index] + weight_std[index] * jax.random.normal(k_weight, shape)
            spread = jax.random.uniform(k_delay, shape, minval=-1.0, maxval=1.0)
            delay = jnp.clip(delay_ms[index] + delay_spread_ms * spread, 0.0, self.max_delay_ms)
            params.append(LayerParams(weight, raw_delay(delay, self.max_delay_ms)))
        return params

    def network_params(self, params: Sequence[LayerParams]) -> list[network.NetworkParams]:
        return [
            network.NetworkParams(
                input_weight=p.weight,
                input_delay_ms=delay,
                tau_syn_ms=jnp.float32(self.tau_syn_ms),
                tau_mem_ms=jnp.float32(self.tau_mem_ms),
                vthres=jnp.float32(self.vthres),
            )
            for p, delay in zip(params, self.delays(params), strict=True)
        ]

    def simulate(
        self, params: Sequence[LayerParams], spikes_ms: jax.Array
    ) -> list[network.SimResult]:
        """Every layer's :class:`~adseq_lab.network.SimResult` for input spike times
        ``spikes_ms`` ``(T, n_inputs)`` (-1 where silent)."""
        layers = list(zip(self.networks(), self.network_params(params), strict=True))
        return network.simulate_chain(layers, Drive(spikes_ms=spikes_ms))
