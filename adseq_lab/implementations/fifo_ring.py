"""FIFORing[k]: k events for one delay per queue (arrivals in order), the cheapest bounded kind."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .array_queue import ArrayQueue
from .base import as_arrival, first_empty, pop_due, queue_dataclass
from .rowwise import put

__all__ = ["FIFORing"]


@queue_dataclass
class FIFORing(ArrayQueue):
    """k slots: ``enqueue`` fills the first free slot (a full queue drops the new event),
    ``pop`` delivers every due event. Within its contract (non-decreasing arrivals, as with one
    delay per queue) events leave first in, first out, and the kind costs O(k) elementwise work
    per step. Arrivals out of order are still delivered at their step, never lost. Reverse mode
    keeps, per step, the written slot of each queue (a byte) and the pop's due mask.
    """

    def enqueue(self, arrival_step: Any, when: Any = True) -> FIFORing:
        when = jnp.asarray(when, bool)
        held = self.arrival_step
        slot = first_empty(held)
        arrival = as_arrival(arrival_step, held.dtype)
        position = jnp.where(when, slot, self.capacity)
        return self._kept(put(held, position, arrival), when & (slot == self.capacity))

    def pop(self, step: Any) -> tuple[FIFORing, jax.Array]:
        remaining, hit = pop_due(self.arrival_step, step)
        return self._kept(remaining), hit
