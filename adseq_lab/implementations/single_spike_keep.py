"""SingleSpikeKeep: one pending event; the first is kept until popped, later ones are dropped."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from .base import as_arrival, count_drop, queue_dataclass
from .single_spike import SingleSpike

__all__ = ["SingleSpikeKeep"]


@queue_dataclass
class SingleSpikeKeep(SingleSpike):
    """Like :class:`SingleSpike`, but an event arriving while one is pending is dropped."""

    def enqueue(self, arrival_step: Any, when: Any = True) -> SingleSpikeKeep:
        when = jnp.asarray(when, bool)
        occupied = self.pending > 0
        arrival = as_arrival(arrival_step, self.arrival_step.dtype)
        return SingleSpikeKeep(
            jnp.where(when & ~occupied, arrival, self.arrival_step),
            count_drop(self.dropped, when & occupied),
        )
