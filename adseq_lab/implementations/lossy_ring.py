"""LossyRing[k]: k slots hashed by arrival step; a collision overwrites (counted as dropped)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .array_queue import ArrayQueue
from .base import as_arrival, never, pop_due, queue_dataclass, read, write

__all__ = ["LossyRing"]


@queue_dataclass
class LossyRing(ArrayQueue):
    """Slot ``arrival_step mod k``. Lossy by design: the paper's selective spike dropping."""

    def enqueue(self, arrival_step: Any, when: Any = True) -> LossyRing:
        when = jnp.asarray(when, bool)
        arrival = as_arrival(arrival_step, self.arrival_step.dtype)
        slot = jnp.ceil(arrival).astype(jnp.int32) % self.capacity
        occupied = read(self.arrival_step, slot, never(arrival.dtype)) != never(arrival.dtype)
        position = jnp.where(when, slot, self.capacity)
        return self._kept(write(self.arrival_step, position, arrival), when & occupied)

    def pop(self, step: Any) -> tuple[LossyRing, jax.Array]:
        remaining, hit = pop_due(self.arrival_step, step)
        return self._kept(remaining), hit
