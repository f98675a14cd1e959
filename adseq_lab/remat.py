"""Checkpointed time loops: ``lax.scan`` whose reverse-mode memory grows with the state, not the
work per step.

A plain scan keeps, for the backward pass, every intermediate of every step. With
``jax.checkpoint`` around the step only the carried state is kept (one copy per step) and each
step is recomputed during the backward pass. Nesting chunks (``chunks=(c,)``: the state is kept
once per chunk of ``c`` steps, and once per step inside the chunk being differentiated) brings
that to about ``T / c + c`` states; each level costs one more forward recomputation. Forward
runs (plain or ``jvp``) are unaffected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["checkpointed_scan", "auto_chunks", "state_bytes"]


def state_bytes(tree: Any) -> int:
    """Bytes held by the array leaves of ``tree`` (shapes and dtypes only)."""
    return sum(
        math.prod(jnp.shape(leaf)) * jnp.result_type(leaf).itemsize
        for leaf in jax.tree_util.tree_leaves(tree)
    )


def auto_chunks(length: int, bytes_per_state: int, budget_bytes: int) -> tuple[int, ...]:
    """Chunk lengths (outermost first) for :func:`checkpointed_scan` keeping at most about
    ``budget_bytes`` of stored states for a ``length``-step loop; up to three nested levels."""
    levels = 1
    while levels < 4:
        chunk = math.ceil(length ** (1 / levels))
        kept = length if levels == 1 else levels * chunk
        if kept * bytes_per_state <= budget_bytes:
            break
        levels += 1
    chunk = math.ceil(length ** (1 / levels))
    return tuple(chunk ** (levels - 1 - i) for i in range(levels - 1))


def checkpointed_scan(
    step: Callable[[Any, Any], tuple[Any, Any]],
    carry: Any,
    xs: Any,
    length: int,
    chunks: tuple[int, ...] = (),
) -> tuple[Any, Any]:
    """``lax.scan(step, carry, xs, length)`` with ``step`` checkpointed and the loop split into
    nested checkpointed chunks of ``chunks`` steps (outermost first; a remainder runs as a shorter
    final chunk)."""
    return _nested(jax.checkpoint(step), carry, xs, length, tuple(chunks))


def _nested(step, carry, xs, length: int, chunks: tuple[int, ...]):
    if not chunks or length <= chunks[0]:
        return jax.lax.scan(step, carry, xs, length=length)
    size, inner = chunks[0], chunks[1:]
    count, rest = divmod(length, size)

    def chunk(carry, xs_chunk):
        return _nested(step, carry, xs_chunk, size, inner)

    head = jax.tree_util.tree_map(
        lambda a: a[: count * size].reshape((count, size) + a.shape[1:]), xs
    )
    carry, ys = jax.lax.scan(jax.checkpoint(chunk), carry, head, length=count)
    ys = jax.tree_util.tree_map(lambda a: a.reshape((count * size,) + a.shape[2:]), ys)
    if rest:
        tail = jax.tree_util.tree_map(lambda a: a[count * size :], xs)
        carry, ys_tail = _nested(step, carry, tail, rest, inner)
        ys = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), ys, ys_tail)
    return carry, ys
