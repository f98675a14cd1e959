"""BGPQ1: a batched priority queue (group size 1) with top-down insertion; any arrival order."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from . import decisions, heap
from .base import as_arrival, queue_dataclass

__all__ = ["BGPQ1"]


@queue_dataclass
class BGPQ1(heap.HeapQueue):
    """The BGPQ insertion scheme (He et al.) with one key per node: a new event walks from the
    root down the path to its node, swapping places with any later event it passes, so every
    node on the path is touched once, top to bottom. Capacity 8 unless sized."""

    default_capacity: ClassVar[int | None] = 8

    def enqueue(self, arrival_step: Any, when: Any = True) -> BGPQ1:
        when = jnp.asarray(when, bool)
        k = self.capacity
        carried = as_arrival(arrival_step, self.nodes[0].dtype)
        keys = [jax.lax.stop_gradient(node) for node in self.nodes]
        target, full = heap.insertion_node(keys, jax.lax.stop_gradient(carried))
        target = jnp.where(when, target, k)
        updated = decisions.apply(_walk_down, (*self.nodes, carried), target)
        return self._kept(list(updated), when & full)


def _walk_down(moving: tuple, target: Any, decide: decisions.Decide, empty: Any) -> tuple:
    """The nodes with ``moving[-1]`` (the new event) walked from the root to ``target`` (``k``:
    nowhere), placed wherever it is earlier than the event passed (which it then carries on), or
    at the target. Choices: one per node (on the path) and one per level (placed)."""
    *values, carried = moving
    k = len(values)
    first = 0
    while first < k:  # one level per pass, top to bottom
        level = range(first, min(2 * first + 1, k))
        on_path = {i: decide(lambda i=i: heap.in_subtree(target, i, k)) for i in level}
        passed = empty  # the event held at this level's path node
        for i in level:
            passed = jnp.where(on_path[i], values[i], passed)
        place = decide(  # earlier, or the target
            lambda carried=carried, passed=passed, first=first: (
                (carried < passed) | (target < 2 * first + 1)
            )
        )
        for i in level:
            values[i] = jnp.where(on_path[i] & place, carried, values[i])
        carried = jnp.where(place, passed, carried)
        first = 2 * first + 1
    return tuple(values)
