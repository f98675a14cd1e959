"""SortedArray[k]: k events kept sorted by arrival; any arrival order."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .array_queue import ArrayQueue
from .base import as_arrival, never, pop_prefix, queue_dataclass, sum_last

__all__ = ["SortedArray"]


@queue_dataclass
class SortedArray(ArrayQueue):
    """A sorted row: ``enqueue`` inserts in place (after equal arrivals), ``pop`` takes the due
    front. A full queue drops the latest event: the last one held, or the new one if it is
    later still."""

    def enqueue(self, arrival_step: Any, when: Any = True) -> SortedArray:
        when = jnp.asarray(when, bool)
        held = self.arrival_step
        arrival = as_arrival(arrival_step, held.dtype)
        empty = never(held.dtype)
        position = sum_last(held <= arrival[..., None], jnp.int32)
        position = jnp.where(when, position, self.capacity)[..., None]
        index = jnp.arange(self.capacity)
        after = jnp.concatenate(
            [jnp.full(held.shape[:-1] + (1,), empty, held.dtype), held[..., :-1]], axis=-1
        )
        inserted = jnp.where(
            index < position, held, jnp.where(index == position, arrival[..., None], after)
        )
        full = held[..., -1] != empty
        return self._kept(inserted, when & full)

    def pop(self, step: Any) -> tuple[SortedArray, jax.Array]:
        remaining, hit = pop_prefix(self.arrival_step, step)
        return self._kept(remaining), hit
