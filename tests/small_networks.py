"""Small recurrent networks and drives shared by the network tests (times in ms)."""

from __future__ import annotations

from typing import Any

import jax

from adseq_lab import inputs, network

SMALL_NETWORK = dict(
    connection_prob=0.5,
    weight_scale=0.2,
    input_weight_scale=1.0,
    delay_ms=1.0,
    max_delay_ms=2.5,
)
"""Sparse, weakly coupled, delays around 1 ms inside a 2.5 ms queue range."""


def build_small_network(
    key: jax.Array, n: int, **settings: Any
) -> tuple[network.Network, network.NetworkParams]:
    """``network.build_network`` for ``n`` neurons with :data:`SMALL_NETWORK`; ``settings`` add
    to or override it."""
    return network.build_network(key, n, **(SMALL_NETWORK | settings))


def constant_drive(
    key: jax.Array, steps: int, n: int, n_inputs: int, dt_ms: float, current: float, rate_hz: float
) -> inputs.Drive:
    """``current`` into each of ``n`` neurons every step, Poisson spikes at ``rate_hz`` on each of
    ``n_inputs`` inputs (seeded by ``key``)."""
    return inputs.Drive(
        current=inputs.constant_current(steps, n, current, dt_ms),
        spikes_ms=inputs.poisson_spikes(key, rate_hz, steps, n_inputs, dt_ms),
    )
