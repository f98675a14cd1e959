"""SortedArray[k]: k events kept sorted by arrival; any arrival order."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .array_queue import ArrayQueue
from .base import as_arrival, never, pop_due, queue_dataclass, sum_last, vacated
from .rowwise import insert

__all__ = ["SortedArray"]


@queue_dataclass
class SortedArray(ArrayQueue):
    """A sorted row ``[delivered..., events..., empty...]``. ``pop`` marks the due front as
    delivered (no shifting); ``enqueue`` inserts in order after equal arrivals, shifting the
    earlier events left into a delivered slot if there is one, else the later ones right. A full
    queue drops the latest event: the last one held, or the new one if it is later still.
    Every operation is O(k) elementwise work.
    """

    def enqueue(self, arrival_step: Any, when: Any = True) -> SortedArray:
        when = jnp.asarray(when, bool)
        held = self.arrival_step
        arrival = as_arrival(arrival_step, held.dtype)
        empty, gone = never(held.dtype), vacated(held.dtype)
        position = sum_last(held <= arrival[..., None], jnp.int32)
        front = held[..., 0] == gone  # a delivered slot before the insertion point
        side = jnp.where(when, jnp.where(front, 1, 2), 0)
        inserted = insert(held, jnp.where(front, position - 1, position), side, arrival, empty)
        full = ~front & (held[..., -1] != empty)
        return self._kept(inserted, when & full)

    def pop(self, step: Any) -> tuple[SortedArray, jax.Array]:
        held = self.arrival_step
        remaining, hit = pop_due(held, step, vacated=vacated(held.dtype))
        return self._kept(remaining), hit
