"""BGPQ1: a batched priority queue (group size 1) with top-down insertion; any arrival order."""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp

from . import heap
from .base import as_arrival, never, queue_dataclass

__all__ = ["BGPQ1"]


@queue_dataclass
class BGPQ1(heap.HeapQueue):
    """The BGPQ insertion scheme (He et al.) with one key per node: a new event walks from the
    root down the path to its node, swapping places with any later event it passes, so every
    node on the path is touched once, top to bottom. Capacity 8 unless sized."""

    default_capacity: ClassVar[int | None] = 8

    def enqueue(self, arrival_step: Any, when: Any = True) -> BGPQ1:
        values = list(self.nodes)
        k = len(values)
        carried = as_arrival(arrival_step, values[0].dtype)
        target, full = heap.insertion_node(values, carried)
        target = jnp.where(jnp.asarray(when, bool), target, k)
        first = 0
        while first < k:  # one level per pass, top to bottom
            level = range(first, min(2 * first + 1, k))
            on_path = {i: heap.in_subtree(target, i, k) for i in level}
            passed = never(carried.dtype)  # the event held at this level's path node
            for i in level:
                passed = jnp.where(on_path[i], values[i], passed)
            place = (carried < passed) | (target < 2 * first + 1)  # earlier, or the target
            for i in level:
                values[i] = jnp.where(on_path[i] & place, carried, values[i])
            carried = jnp.where(place, passed, carried)
            first = 2 * first + 1
        return self._kept(values, jnp.asarray(when, bool) & full)
