"""BinaryHeap[k]: k events in a binary min-heap; any arrival order."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from . import decisions, heap
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
        when = jnp.asarray(when, bool)
        k = self.capacity
        arrival = as_arrival(arrival_step, self.nodes[0].dtype)
        keys = [jax.lax.stop_gradient(node) for node in self.nodes]
        node, full = heap.insertion_node(keys, jax.lax.stop_gradient(arrival))
        node = jnp.where(when, node, k)
        updated = decisions.apply(_sift_up, (*self.nodes, arrival), node)
        return self._kept(list(updated), when & full)


def _sift_up(moving: tuple, node: Any, decide: decisions.Decide, empty: Any) -> tuple:
    """The nodes with ``moving[-1]`` (the new event) put at ``node`` (``k``: nowhere) and sifted
    up; two choices per node (one at the root)."""
    *values, arrival = moving
    k = len(values)
    updated = []
    for i, own in enumerate(values):
        take_new = decide(
            lambda i=i, own=own: heap.in_subtree(node, i, k) & ((arrival < own) | (node == i))
        )
        new = jnp.where(take_new, arrival, own)
        if i > 0:
            parent = values[(i - 1) // 2]
            take_parent = decide(
                lambda i=i, parent=parent: heap.in_subtree(node, i, k) & (arrival < parent)
            )
            new = jnp.where(take_parent, parent, new)
        updated.append(new)
    return tuple(updated)
