"""BinaryHeap[k]: k events in a binary min-heap; any arrival order."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from . import heap
from .base import as_arrival, queue_dataclass

__all__ = ["BinaryHeap"]


@queue_dataclass
class BinaryHeap(heap.HeapQueue):
    """Bottom-up insertion (sift-up), delete of all due events with re-heapify. A full heap drops
    its latest event (or the new one, if that is later still), like SortedArray."""

    def enqueue(self, arrival_step: Any, when: Any = True) -> BinaryHeap:
        """Put the event at the first free node and sift it up: it rises past every later
        ancestor, each of which moves down one node. The path from the root is sorted, so all
        its nodes are updated at once: a node takes its parent's event if the new one is earlier
        than the parent, else the new one if that is earlier than its own (or it is the free
        node), else keeps its own."""
        values = list(self.nodes)
        k = len(values)
        arrival = as_arrival(arrival_step, values[0].dtype)
        node, full = heap.insertion_node(values, arrival)
        node = jnp.where(jnp.asarray(when, bool), node, k)
        updated = []
        for i, own in enumerate(values):
            on_path = heap.in_subtree(node, i, k)
            new = jnp.where(on_path & ((arrival < own) | (node == i)), arrival, own)
            if i > 0:
                parent = values[(i - 1) // 2]
                new = jnp.where(on_path & (arrival < parent), parent, new)
            updated.append(new)
        return self._kept(updated, jnp.asarray(when, bool) & full)
