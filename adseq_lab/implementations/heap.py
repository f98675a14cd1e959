"""HeapQueue: the binary min-heap shared by BinaryHeap and BGPQ1.

The heap has ``k`` nodes (root 0, children of ``i`` at ``2i + 1`` and ``2i + 2``); empty nodes
hold the sentinel, which is later than any event, so the heap property keeps every empty node's
subtree empty. Each node is its own array (one arrival step per queue, ``batch_shape``), so every
operation is elementwise over the batch with static node indices: where a node depends on the
queue (the insertion path), each node of a level tests whether it is the one, with selects and no
reduction across nodes. (As one ``batch + (k,)`` array, XLA's CPU backend would rebuild the row
with a per-element branch on the node, several times slower.) Values move only through ``where``
on choices asked of :mod:`.decisions`, so an event's tangent moves with it on every swap, and
reverse mode keeps the choices as packed bits: for one enqueue and one pop of BinaryHeap[7] or
BGPQ1[8], 5 bytes per queue and step instead of a bool per select (about 40).

Cost: XLA computes each node's new value in its own loop over the batch, and every node depends
on the whole heap (the root is the minimum of all), so a step costs about ``k`` times the
``O(k log k)`` operations of one pop and one insert. The kind is meant for small ``k``:
``BinaryHeap[7]`` on 10^4 queues takes about half the time of adseq 0.9.4's, while an unsized
heap for an 80-step delay (``k = 81``) takes about two minutes to compile on 2 cores. Large
capacities are for Ring or SortedArray.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import jax
import jax.numpy as jnp

from . import decisions
from .array_queue import resolve_capacity
from .base import (
    EventQueue,
    as_step,
    count_drop,
    count_with_tangent,
    key_dtype,
    never,
    queue_dataclass,
    zeros_dropped,
)
from .decisions import Decide

__all__ = ["HeapQueue"]

Nodes = list[jax.Array]


def in_subtree(node: jax.Array, top: int, k: int) -> jax.Array:
    """Whether ``node`` (per queue; ``k`` for none) lies in the subtree of the static node
    ``top``: one contiguous range of nodes per level below it."""
    if top == 0:
        return node < k
    inside = node == top
    first, last = top, top
    while 2 * first + 1 < k:
        first, last = 2 * first + 1, 2 * last + 2
        inside = inside | ((node >= first) & (node <= min(last, k - 1)))
    return inside


def sift_down(values: Nodes, start: int, decide: Decide) -> None:
    """Move the event at node ``start`` down (in place) until both children are later; the
    subtrees below ``start`` must be heaps. Both children are visited (static nodes), the one
    that did not swap with no effect. Two choices per node with two children, one otherwise."""
    k = len(values)
    left, right = 2 * start + 1, 2 * start + 2
    if left >= k:
        return
    parent = values[start]
    right_first = None
    child = values[left]
    if right < k:
        right_first = decide(lambda: values[right] < values[left])
        child = jnp.where(right_first, values[right], values[left])
    swap = decide(lambda: child < parent)
    values[start] = jnp.where(swap, child, parent)
    to_left = swap if right_first is None else swap & ~right_first
    values[left] = jnp.where(to_left, parent, values[left])
    sift_down(values, left, decide)
    if right_first is not None:
        values[right] = jnp.where(swap & right_first, parent, values[right])
        sift_down(values, right, decide)


def insertion_node(values: Nodes, arrival: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(node, full)``: where a new event goes.

    The first empty node (its parent is never empty); in a full heap, the leaf holding the latest
    event if the new one is earlier (that event is evicted), else ``k`` (the new one is dropped).
    """
    k = len(values)
    empty = never(values[0].dtype)
    free = jnp.full(jnp.shape(values[0]), k, jnp.int32)
    for i in reversed(range(k)):
        free = jnp.where(values[i] == empty, i, free)
    full = free == k
    latest_leaf = jnp.full(jnp.shape(values[0]), k // 2, jnp.int32)
    latest = values[k // 2]
    for i in range(k // 2 + 1, k):
        later = values[i] > latest
        latest_leaf = jnp.where(later, i, latest_leaf)
        latest = jnp.where(later, values[i], latest)
    node = jnp.where(full, jnp.where(arrival < latest, latest_leaf, k), free)
    return node, full


@queue_dataclass
class HeapQueue(EventQueue):
    """Fields: ``nodes`` (``k`` arrays of arrival steps, ``batch_shape`` each; the sentinel in
    empty nodes) and ``dropped`` (int32, ``batch_shape``).

    ``pop`` delivers every due event (they form a subtree at the root): it clears them and
    re-heapifies bottom-up (Floyd). Subclasses insert. Unsized, the capacity is
    ``max_delay_steps + 1``.
    """

    has_capacity = True
    default_capacity: ClassVar[int | None] = None

    nodes: tuple[jax.Array, ...]
    dropped: jax.Array

    @classmethod
    def init(
        cls,
        max_delay_steps: int | None = None,
        grad: bool = False,
        batch_shape: tuple = (),
        capacity: int | None = None,
    ) -> Self:
        capacity = resolve_capacity(cls, max_delay_steps, capacity)
        dtype = key_dtype(grad)
        empty = jnp.full(tuple(batch_shape), never(dtype), dtype)
        return cls((empty,) * capacity, zeros_dropped(batch_shape))

    @property
    def capacity(self) -> int:
        return len(self.nodes)

    @property
    def arrival_step(self) -> jax.Array:
        """The heap as one row, ``batch_shape + (k,)`` (node ``i`` at index ``i``)."""
        return jnp.stack(self.nodes, axis=-1)

    @property
    def pending(self) -> jax.Array:
        empty = never(self.nodes[0].dtype)
        return sum((node != empty).astype(jnp.int32) for node in self.nodes)

    def _kept(self, values: Nodes, lost: jax.Array | None = None) -> Self:
        """This queue holding ``values``, with ``lost`` events added to ``dropped``."""
        dropped = self.dropped if lost is None else count_drop(self.dropped, lost)
        return type(self)(tuple(values), dropped)

    def pop(self, step: Any) -> tuple[Self, jax.Array]:
        dtype = self.nodes[0].dtype
        step = as_step(step).astype(dtype)
        nodes, carrier = decisions.apply(_pop, self.nodes, step)
        hit = sum((node <= step).astype(dtype) for node in self.nodes)
        if not jnp.issubdtype(dtype, jnp.integer):
            hit = count_with_tangent(hit, carrier)
        return self._kept(list(nodes)), hit


def _pop(nodes: tuple, step: Any, decide: Decide, empty: Any) -> tuple[tuple, jax.Array]:
    """``(nodes, carrier)``: the due events (``<= step``) cleared and the heap rebuilt bottom-up
    (Floyd); ``carrier`` sums the cleared events (their tangents, for ``hit``)."""
    values = list(nodes)
    due = [decide(lambda value=value: value <= step) for value in values]
    carrier = sum(jnp.where(d, v, 0) for d, v in zip(due, values, strict=True))
    values = [jnp.where(d, empty, v) for d, v in zip(due, values, strict=True)]
    for start in reversed(range(len(values) // 2)):
        sift_down(values, start, decide)
    return tuple(values), carrier
