"""FIFORing[k]: k events in arrival order (assumes non-decreasing arrival steps per queue)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .array_queue import ArrayQueue
from .base import as_arrival, pop_prefix, queue_dataclass, write

__all__ = ["FIFORing"]


@queue_dataclass
class FIFORing(ArrayQueue):
    """First in, first out. Right for one delay per queue, where arrivals come in order.

    The events are kept front-aligned; ``enqueue`` appends (a full queue drops the new event),
    ``pop`` removes the leading due events. An out-of-order event is never lost: it is delivered
    when the events before it have left.
    """

    def enqueue(self, arrival_step: Any, when: Any = True) -> FIFORing:
        when = jnp.asarray(when, bool)
        size = self.pending
        full = size == self.capacity
        arrival = as_arrival(arrival_step, self.arrival_step.dtype)
        position = jnp.where(when, size, self.capacity)
        return self._kept(write(self.arrival_step, position, arrival), when & full)

    def pop(self, step: Any) -> tuple[FIFORing, jax.Array]:
        remaining, hit = pop_prefix(self.arrival_step, step)
        return self._kept(remaining), hit
