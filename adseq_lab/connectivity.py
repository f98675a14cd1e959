"""Seeded random connectivity: masks, weights and delays of ``(n_pre, n_post)`` synapses.

Every synapse array in adseq-lab is laid out ``(n_pre, n_post)``: row ``i`` holds the synapses
leaving presynaptic neuron ``i``. Delays are in ms. All draws take an explicit ``jax.random`` key,
so ``jax.vmap`` over keys builds a batch of networks.

>>> import jax
>>> from adseq_lab import connectivity
>>> connectivity.draw_delays(jax.random.key(0), (2, 3), 4.0, 0.5, 7.0).shape
(2, 3)
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp

__all__ = [
    "WeightDistribution",
    "DelayDistribution",
    "connection_mask",
    "draw_weights",
    "draw_delays",
    "seed_rsnn_weights",
]

WeightDistribution = Literal["normal", "normal_squared", "uniform", "constant"]
DelayDistribution = Literal["normal", "uniform"]

_WEIGHT_DISTRIBUTIONS = ("normal", "normal_squared", "uniform", "constant")
_DELAY_DISTRIBUTIONS = ("normal", "uniform")


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    if len(shape) != 2 or any(not isinstance(s, int) or s < 0 for s in shape):
        raise ValueError(f"shape must be (n_pre, n_post) with non-negative ints, got {shape!r}")
    return shape


def connection_mask(
    key: jax.Array,
    shape: tuple[int, int],
    probability: float = 1.0,
    *,
    self_connections: bool = True,
) -> jax.Array | None:
    """Bool ``(n_pre, n_post)``: which synapses exist, each with ``probability`` (Bernoulli).

    ``self_connections=False`` removes the diagonal (a square recurrent matrix). Returns ``None``
    (everything connected, no mask to apply) when ``probability == 1`` and self connections are
    kept.
    """
    shape = _check_shape(shape)
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must lie in [0, 1], got {probability}")
    if not self_connections and shape[0] != shape[1]:
        raise ValueError(f"self_connections=False needs a square shape, got {shape}")
    if probability == 1.0 and self_connections:
        return None
    mask = (
        jnp.ones(shape, bool)
        if probability == 1.0
        else jax.random.bernoulli(key, probability, shape)
    )
    if not self_connections:
        mask = mask & ~jnp.eye(shape[0], dtype=bool)
    return mask


def draw_weights(
    key: jax.Array,
    shape: tuple[int, int],
    scale: float | jax.Array = 1.0,
    distribution: WeightDistribution = "normal",
) -> jax.Array:
    """``scale`` times a draw from ``distribution``, float32 ``shape``.

    ``normal``: N(0, 1); ``normal_squared``: N(0, 1)**2 (non-negative, the seed's recurrent
    benchmark); ``uniform``: U[0, 1); ``constant``: 1.
    """
    shape = _check_shape(shape)
    if distribution == "normal":
        draw = jax.random.normal(key, shape)
    elif distribution == "normal_squared":
        draw = jax.random.normal(key, shape) ** 2
    elif distribution == "uniform":
        draw = jax.random.uniform(key, shape)
    elif distribution == "constant":
        draw = jnp.ones(shape)
    else:
        raise ValueError(
            f"distribution must be one of {', '.join(_WEIGHT_DISTRIBUTIONS)}, got {distribution!r}"
        )
    return (scale * draw).astype(jnp.float32)


def draw_delays(
    key: jax.Array,
    shape: tuple[int, int],
    mean_ms: float,
    spread_ms: float = 0.0,
    max_delay_ms: float | None = None,
    distribution: DelayDistribution = "normal",
) -> jax.Array:
    """Per-synapse delays (ms, float32 ``shape``), clipped into ``[0, max_delay_ms]``.

    ``normal``: mean ``mean_ms``, standard deviation ``spread_ms``; ``uniform``: on
    ``[mean - spread, mean + spread]``. ``max_delay_ms=None`` leaves the upper end open.
    """
    shape = _check_shape(shape)
    if not (math.isfinite(mean_ms) and mean_ms >= 0):
        raise ValueError(f"mean_ms must be a finite delay >= 0 ms, got {mean_ms}")
    if not (math.isfinite(spread_ms) and spread_ms >= 0):
        raise ValueError(f"spread_ms must be finite and >= 0 ms, got {spread_ms}")
    if max_delay_ms is not None and not mean_ms <= max_delay_ms:
        raise ValueError(f"mean_ms ({mean_ms}) must not exceed max_delay_ms ({max_delay_ms})")
    if distribution == "normal":
        draw = jax.random.normal(key, shape)
    elif distribution == "uniform":
        draw = jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
    else:
        raise ValueError(
            f"distribution must be one of {', '.join(_DELAY_DISTRIBUTIONS)}, got {distribution!r}"
        )
    delays = mean_ms + spread_ms * draw
    return jnp.clip(delays, 0.0, max_delay_ms).astype(jnp.float32)


def seed_rsnn_weights(key: jax.Array, n: int) -> jax.Array:
    """The seed's recurrent benchmark weights: ``sqrt(23)/sqrt(n) * 0.05 * N(0,1)**2``, zero
    diagonal, ``(n, n)``."""
    draw = jax.random.normal(key, (n, n)) ** 2 * (1 - jnp.eye(n))
    return (math.sqrt(23) / math.sqrt(n) * 0.05 * draw).astype(jnp.float32)
