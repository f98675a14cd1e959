"""BinaryHeap[k]: k events in a binary min-heap; any arrival order."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from . import heap
from .array_queue import ArrayQueue
from .base import as_arrival, never, queue_dataclass, read, write

__all__ = ["BinaryHeap"]


@queue_dataclass
class BinaryHeap(ArrayQueue):
    """Bottom-up insertion (sift-up), delete of all due events with re-heapify. A full heap drops
    its latest event (or the new one, if that is later still), like SortedArray."""

    def enqueue(self, arrival_step: Any, when: Any = True) -> BinaryHeap:
        when = jnp.asarray(when, bool)
        k = self.capacity
        arrival = as_arrival(arrival_step, self.arrival_step.dtype)
        node, full = heap.insertion_node(self.arrival_step, arrival)
        node = jnp.where(when, node, k)
        tree = write(self.arrival_step, node, arrival)
        empty = never(tree.dtype)
        for _ in range(heap.depth(k - 1)):
            parent = (node - 1) // 2
            value, parent_value = read(tree, node, empty), read(tree, parent, empty)
            swap = (node > 0) & (node < k) & (value < parent_value)
            tree = write(tree, jnp.where(swap, parent, k), value)
            tree = write(tree, jnp.where(swap, node, k), parent_value)
            node = jnp.where(swap, parent, k)
        return self._kept(tree, when & full)

    def pop(self, step: Any) -> tuple[BinaryHeap, jax.Array]:
        remaining, hit = heap.pop_due(self.arrival_step, step)
        return self._kept(remaining), hit
