"""Row operations on slots whose reverse mode keeps a small integer per row, not a mask per slot.

Reverse mode through ``jnp.where(mask, a, b)`` keeps ``mask`` (a byte per slot) for every step of
a ``lax.scan``. When the mask is a function of one position per row (a one-hot write, an
insertion), the functions here keep that position instead, as the smallest integer type that
holds it; when it is any mask over a short row (the due slots of a pop), they keep its bits
packed into one unsigned integer per row. The mask is rebuilt inside ``jax.checkpoint`` for the
tangent: for 10,000 queues of 4 slots, 10 kB per step instead of 40 kB. Values and tangents are
those of the plain ``where`` (the tangent rule is linear, so JAX transposes it); forward
evaluation is the plain ``where``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["compact", "put", "insert", "take"]

PACKED_LIMIT = 32
"""Rows up to this many slots keep a taken mask as the bits of one unsigned integer."""


def compact(position: jax.Array, upper: int) -> jax.Array:
    """``position`` (integers in ``[-1, upper]``) as the smallest signed integer type holding
    them."""
    for dtype in (jnp.int8, jnp.int16):
        if upper <= jnp.iinfo(dtype).max:
            return position.astype(dtype)
    return position.astype(jnp.int32)


def _hot(position: jax.Array, k: int) -> jax.Array:
    return jnp.arange(k) == position.astype(jnp.int32)[..., None]


@jax.custom_jvp
def _put(position: jax.Array, value: jax.Array, buffer: jax.Array) -> jax.Array:
    return jnp.where(_hot(position, buffer.shape[-1]), value[..., None], buffer)


def _put_tangent(position, value_dot, buffer_dot):
    return jnp.where(_hot(position, buffer_dot.shape[-1]), value_dot[..., None], buffer_dot)


@_put.defjvp
def _put_jvp(primals, tangents):
    position, value, buffer = primals
    _, value_dot, buffer_dot = tangents
    lean = jax.checkpoint(_put_tangent, prevent_cse=False)
    small = compact(position, buffer.shape[-1])
    return _put(position, value, buffer), lean(small, value_dot, buffer_dot)


def put(buffer: jax.Array, position: jax.Array, value: jax.Array) -> jax.Array:
    """``buffer`` (``(..., k)``) with ``value`` (``(...)``) written at ``position`` (int,
    ``(...)``) of each row; a position outside ``[0, k)`` writes nothing. Reverse mode keeps
    ``position`` (:func:`compact`)."""
    value = jnp.asarray(value, buffer.dtype)
    if not jnp.issubdtype(buffer.dtype, jnp.floating):
        return jnp.where(_hot(position, buffer.shape[-1]), value[..., None], buffer)
    return _put(jnp.asarray(position, jnp.int32), value, buffer)


def _insert_where(at, side, value, held, fill):
    """``held`` with ``value`` at ``at``: ``side`` 1 shifts the slots before ``at`` one to the
    left (``fill`` enters on the right), ``side`` 2 shifts those after it one to the right
    (``fill`` enters on the left, the last slot leaves); ``side`` 0 leaves the row as it is."""
    k = held.shape[-1]
    index = jnp.arange(k)
    at, side = at.astype(jnp.int32)[..., None], side.astype(jnp.int32)[..., None]
    pad = jnp.broadcast_to(fill, held.shape[:-1] + (1,))
    from_right = jnp.concatenate([held[..., 1:], pad], axis=-1)
    from_left = jnp.concatenate([pad, held[..., :-1]], axis=-1)
    shifted = jnp.where(
        (side == 1) & (index < at),
        from_right,
        jnp.where((side == 2) & (index > at), from_left, held),
    )
    return jnp.where((side != 0) & (index == at), value[..., None], shifted)


@jax.custom_jvp
def _insert(at, side, value, held, fill):
    return _insert_where(at, side, value, held, fill)


@_insert.defjvp
def _insert_jvp(primals, tangents):
    at, side, value, held, fill = primals
    _, _, value_dot, held_dot, _ = tangents
    lean = jax.checkpoint(_insert_where, prevent_cse=False)
    zero = jnp.zeros((), held_dot.dtype)
    small = compact(at, held.shape[-1]), side.astype(jnp.int8)
    return _insert(at, side, value, held, fill), lean(*small, value_dot, held_dot, zero)


def insert(
    held: jax.Array, at: jax.Array, side: jax.Array, value: jax.Array, fill: float
) -> jax.Array:
    """``value`` (``(...)``) inserted at ``at`` (int, ``(...)``) of each row of ``held``
    (``(..., k)``), shifting the earlier slots left (``side`` 1) or the later ones right
    (``side`` 2; 0: no insertion); ``fill`` (a constant) enters at the vacated end. Reverse
    mode keeps ``at`` and ``side`` (a byte or two per row)."""
    value = jnp.asarray(value, held.dtype)
    fill = jnp.asarray(fill, held.dtype)
    at, side = jnp.asarray(at, jnp.int32), jnp.asarray(side, jnp.int32)
    if not jnp.issubdtype(held.dtype, jnp.floating):
        return _insert_where(at, side, value, held, fill)
    return _insert(at, side, value, held, fill)


def _bits_dtype(k: int):
    return next(d for d in (jnp.uint8, jnp.uint16, jnp.uint32) if k <= jnp.iinfo(d).bits)


def _pack_rows(mask: jax.Array) -> jax.Array:
    dtype = _bits_dtype(mask.shape[-1])
    weights = jnp.left_shift(dtype(1), jnp.arange(mask.shape[-1], dtype=dtype))
    return jnp.sum(jnp.where(mask, weights, dtype(0)), axis=-1, dtype=dtype)


def _unpack_rows(bits: jax.Array, k: int) -> jax.Array:
    shifts = jnp.arange(k, dtype=bits.dtype)
    return (jnp.right_shift(bits[..., None], shifts) & bits.dtype.type(1)).astype(bool)


def _take_where(mask, held, vacated):
    remaining = jnp.where(mask, vacated, held)
    return remaining, jnp.sum(jnp.where(mask, held, 0), axis=-1, dtype=held.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _take(mask, held, vacated):
    return _take_where(mask, held, vacated)


def _take_tangent(bits, held_dot):
    return _take_where(_unpack_rows(bits, held_dot.shape[-1]), held_dot, 0)


@_take.defjvp
def _take_jvp(vacated, primals, tangents):
    mask, held = primals
    _, held_dot = tangents
    lean = jax.checkpoint(_take_tangent, prevent_cse=False)
    return _take(mask, held, vacated), lean(_pack_rows(mask), held_dot)


def take(held: jax.Array, mask: jax.Array, vacated: float) -> tuple[jax.Array, jax.Array]:
    """``(remaining, total)``: ``held`` (``(..., k)``) with the slots in ``mask`` set to
    ``vacated`` (a constant), and the sum of those slots per row (``(...)``; the tangent of a
    pop's ``hit``). Reverse mode keeps ``mask`` as the bits of one unsigned integer per row
    (rows up to :data:`PACKED_LIMIT` slots; longer rows keep the mask)."""
    mask = jnp.asarray(mask, bool)
    if not jnp.issubdtype(held.dtype, jnp.floating) or held.shape[-1] > PACKED_LIMIT:
        return _take_where(mask, held, jnp.asarray(vacated, held.dtype))
    return _take(mask, held, vacated)
