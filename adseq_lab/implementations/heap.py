"""Min-heap arithmetic shared by BinaryHeap and BGPQ1.

The heap lives in a fixed row of ``k`` arrival steps; empty nodes hold the sentinel, which is
larger than any event, so the heap property keeps every empty node's subtree empty. Reads and
writes go through :func:`read`/:func:`write`, so an event's tangent moves with it on every swap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import as_step, delivered, first_empty, is_due, never, read, write


def depth(index: int) -> int:
    """Level of node ``index`` (root: 0)."""
    return (index + 1).bit_length() - 1


def level(heap: jax.Array, d: int) -> tuple[int, int]:
    """``(lo, hi)``: the node range of level ``d``, so reads and writes there scan only it."""
    return 2**d - 1, min(2 ** (d + 1) - 1, heap.shape[-1])


def sift_down(heap: jax.Array, start: int) -> jax.Array:
    """Move the event at node ``start`` down until both children are later."""
    k = heap.shape[-1]
    empty = never(heap.dtype)
    node = jnp.full(heap.shape[:-1], start, jnp.int32)
    for d in range(depth(start), depth(k - 1)):
        left, right = 2 * node + 1, 2 * node + 2
        children = level(heap, d + 1)
        left_value = read(heap, left, empty, *children)
        right_value = read(heap, right, empty, *children)
        right_first = right_value < left_value
        child = jnp.where(right_first, right, left)
        child_value = jnp.where(right_first, right_value, left_value)
        value = read(heap, node, empty, *level(heap, d))
        swap = child_value < value
        heap = write(heap, jnp.where(swap, node, k), child_value, *level(heap, d))
        heap = write(heap, jnp.where(swap, child, k), value, *children)
        node = jnp.where(swap, child, k)
    return heap


def pop_due(heap: jax.Array, step) -> tuple[jax.Array, jax.Array]:
    """Deliver every due event: clear them (a subtree at the root) and re-heapify (Floyd)."""
    due = is_due(heap, as_step(step))
    hit = delivered(heap, due)
    heap = jnp.where(due, never(heap.dtype), heap)
    for start in reversed(range(heap.shape[-1] // 2)):
        heap = sift_down(heap, start)
    return heap, hit


def insertion_node(heap: jax.Array, arrival: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(node, full)``: where a new event goes.

    The first empty node (its parent is never empty); in a full heap, the leaf holding the latest
    event if the new one is earlier (that event is evicted), else ``k`` (the new one is dropped).
    """
    k = heap.shape[-1]
    free = first_empty(heap)
    full = free == k
    latest_leaf = jnp.full(heap.shape[:-1], k // 2, jnp.int32)
    latest = heap[..., k // 2]
    for node in range(k // 2 + 1, k):
        later = heap[..., node] > latest
        latest_leaf = jnp.where(later, node, latest_leaf)
        latest = jnp.where(later, heap[..., node], latest)
    node = jnp.where(full, jnp.where(arrival < latest, latest_leaf, k), free)
    return node, full
