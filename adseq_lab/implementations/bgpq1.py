"""BGPQ1: a batched priority queue (group size 1) with top-down insertion; any arrival order."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from . import heap
from .array_queue import ArrayQueue
from .base import as_arrival, never, queue_dataclass, read, write

__all__ = ["BGPQ1"]


@queue_dataclass
class BGPQ1(ArrayQueue):
    """The BGPQ insertion scheme (He et al.) with one key per node: a new event walks from the
    root down the path to its node, swapping places with any later event it passes, so every
    node on the path is touched once, top to bottom. Capacity 8 unless sized."""

    default_capacity: ClassVar[int | None] = 8

    def enqueue(self, arrival_step: Any, when: Any = True) -> BGPQ1:
        when = jnp.asarray(when, bool)
        k = self.capacity
        carried = as_arrival(arrival_step, self.arrival_step.dtype)
        target, full = heap.insertion_node(self.arrival_step, carried)
        target = jnp.where(when, target, k)
        target_depth = jnp.floor(jnp.log2(target.astype(jnp.float32) + 1)).astype(jnp.int32)
        tree = self.arrival_step
        empty = never(tree.dtype)
        for d in range(heap.depth(k - 1) + 1):
            on_path = (target < k) & (d <= target_depth)
            node = jnp.right_shift(target + 1, jnp.maximum(target_depth - d, 0)) - 1
            node = jnp.where(on_path, node, k)
            value = read(tree, node, empty, *heap.level(tree, d))
            place = on_path & ((carried < value) | (node == target))
            tree = write(tree, jnp.where(place, node, k), carried, *heap.level(tree, d))
            carried = jnp.where(place, value, carried)
        return self._kept(tree, when & full)

    def pop(self, step: Any) -> tuple[BGPQ1, jax.Array]:
        remaining, hit = heap.pop_due(self.arrival_step, step)
        return self._kept(remaining), hit
