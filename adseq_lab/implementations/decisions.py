"""Queue operations whose reverse mode keeps their choices as packed bits, not a mask per select.

Reverse mode through ``jnp.where(mask, a, b)`` keeps ``mask`` (a byte per queue) for every step of
a ``lax.scan``; a heap operation makes dozens of such choices per step. An operation written as
``op(moving, fixed, decide, empty)`` instead asks ``decide(condition)`` for each choice and moves
values only by ``jnp.where`` on the answers (and logic on them). :func:`apply` runs it on the
arrival steps; under differentiation it records every answer (a bool per queue), packs them into
a few unsigned integers per queue, and runs the same ``op`` on the tangents inside
``jax.checkpoint``, replaying the bits. So values and tangents take the same code path and reverse
mode keeps ``ceil(choices / 8)`` bytes per queue and step: 3 for a BinaryHeap[7] pop (17 choices)
instead of 17.

The contract of ``op``: ``moving`` (a tuple of arrays) are the values that move (the tangents on
replay), ``fixed`` are undifferentiated inputs (the pop's step, an insertion node; ``None`` on
replay, so they may be read only inside a ``condition``), ``decide`` takes a zero-argument
callable returning a bool array and returns that bool (recorded) or the replayed bit, ``empty``
is the value of an empty slot (the sentinel; ``0`` on replay). ``op`` returns a pytree of arrays,
each a selection among ``moving``, ``empty`` and zeros (or a sum of such), so it is linear in
``moving`` on replay.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .base import never

__all__ = ["Decide", "apply", "evaluate"]

Decide = Callable[[Callable[[], jax.Array]], jax.Array]
Op = Callable[[tuple, Any, Decide, Any], Any]


def _evaluate(condition: Callable[[], jax.Array]) -> jax.Array:
    return condition()


class _Recorder:
    """``decide`` that evaluates each condition and keeps it."""

    def __init__(self) -> None:
        self.bits: list[jax.Array] = []

    def __call__(self, condition: Callable[[], jax.Array]) -> jax.Array:
        bit = jnp.asarray(condition(), bool)
        self.bits.append(bit)
        return bit


def _word_sizes(count: int) -> list[int]:
    """Bits per word (8, 16 or 32) packing ``count`` bits in ``ceil(count / 8)`` bytes, in few
    words (17 to 24 bits: 16 + 8, not 32)."""
    sizes = []
    while count > 0:
        size = 32 if count > 24 else 16 if count > 8 else 8
        sizes.append(size)
        count -= size
    return sizes


_UNSIGNED = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32}


def _pack(bits: list[jax.Array]) -> tuple[jax.Array, ...]:
    shape = jnp.broadcast_shapes(*(jnp.shape(b) for b in bits))
    words, first = [], 0
    for size in _word_sizes(len(bits)):
        dtype = _UNSIGNED[size]
        word = jnp.zeros(shape, dtype)
        for offset, bit in enumerate(bits[first : first + size]):
            word = word | (bit.astype(dtype) << dtype(offset))
        words.append(word)
        first += size
    return tuple(words)


class _Replayer:
    """``decide`` that returns the recorded bits in order (conditions are not evaluated)."""

    def __init__(self, words: tuple[jax.Array, ...], count: int) -> None:
        self.positions = [
            (w, offset) for w, size in enumerate(_word_sizes(count)) for offset in range(size)
        ][:count]
        self.words = words
        self.next = 0

    def __call__(self, condition: Callable[[], jax.Array]) -> jax.Array:
        w, offset = self.positions[self.next]
        self.next += 1
        word = self.words[w]
        return ((word >> word.dtype.type(offset)) & word.dtype.type(1)).astype(bool)


def _replay(op: Op, count: int, words: tuple[jax.Array, ...], moving_dot: tuple) -> Any:
    zero = jnp.zeros((), moving_dot[0].dtype)
    return op(moving_dot, None, _Replayer(words, count), zero)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _apply(op: Op, moving: tuple, fixed: Any) -> Any:
    return op(moving, fixed, _evaluate, never(moving[0].dtype))


@_apply.defjvp
def _apply_jvp(op, primals, tangents):
    moving, fixed = primals
    moving_dot, _ = tangents
    recorder = _Recorder()
    out = op(moving, fixed, recorder, never(moving[0].dtype))
    words = _pack(recorder.bits)
    lean = jax.checkpoint(functools.partial(_replay, op, len(recorder.bits)), prevent_cse=False)
    return out, lean(words, tuple(moving_dot))


def evaluate(op: Op, moving: tuple, fixed: Any) -> Any:
    """``op`` as it is: each choice computed where it is made (JAX differentiates through every
    select, keeping its mask)."""
    moving = tuple(jnp.asarray(m) for m in moving)
    return op(moving, fixed, _evaluate, never(moving[0].dtype))


def apply(op: Op, moving: tuple, fixed: Any) -> Any:
    """``op(moving, fixed, decide, empty)`` on arrival steps ``moving`` (a tuple of arrays of
    one dtype; the sentinel as ``empty``): the values and tangents of :func:`evaluate`. Float
    ones differentiate through the replayed choices (reverse mode keeps a bit per choice and
    queue); integer ones run ``op`` as it is."""
    moving = tuple(jnp.asarray(m) for m in moving)
    if not jnp.issubdtype(moving[0].dtype, jnp.floating):
        return evaluate(op, moving, fixed)
    return _apply(op, moving, fixed)
