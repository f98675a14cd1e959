"""SortedArray[k]: k events kept sorted by arrival; any arrival order."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .array_queue import ArrayQueue
from .base import as_arrival, never, pop_due, queue_dataclass, sum_last, vacated

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
        arrival = as_arrival(arrival_step, held.dtype)[..., None]
        empty, gone = never(held.dtype), vacated(held.dtype)
        position = sum_last(held <= arrival, jnp.int32)[..., None]
        index = jnp.arange(self.capacity)
        pad = jnp.full(held.shape[:-1] + (1,), empty, held.dtype)
        from_right = jnp.concatenate([held[..., 1:], pad], axis=-1)
        from_left = jnp.concatenate([pad, held[..., :-1]], axis=-1)
        into_front = jnp.where(
            index < position - 1, from_right, jnp.where(index == position - 1, arrival, held)
        )
        into_back = jnp.where(
            index < position, held, jnp.where(index == position, arrival, from_left)
        )
        has_front = (held[..., 0] == gone)[..., None]
        inserted = jnp.where(has_front, into_front, into_back)
        full = (held[..., 0] != gone) & (held[..., -1] != empty)
        return self._kept(jnp.where(when[..., None], inserted, held), when & full)

    def pop(self, step: Any) -> tuple[SortedArray, jax.Array]:
        held = self.arrival_step
        remaining, hit = pop_due(held, step, vacated=vacated(held.dtype))
        return self._kept(remaining), hit
