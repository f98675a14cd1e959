"""Row-wise operations (``implementations.rowwise``): the values and tangents of plain selects,
with a reverse-mode residual of one small integer per row."""

from __future__ import annotations

import contextlib
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import print_saved_residuals

from adseq_lab.implementations import FIFORing, SortedArray
from adseq_lab.implementations.rowwise import compact, insert, put, take

ROWS, K = 6, 4


def reference_put(buffer, position, value):
    hot = jnp.arange(buffer.shape[-1]) == position[:, None]
    return jnp.where(hot, value[:, None], buffer)


def reference_insert(held, at, side, value, fill):
    """Row by row with list slicing (``at`` and ``side`` concrete)."""
    rows = []
    for i, (a, s) in enumerate(zip(np.asarray(at), np.asarray(side), strict=True)):
        row = [held[i, j] for j in range(held.shape[1])]
        if s == 1:
            row = row[1 : a + 1] + [value[i]] + row[a + 1 :]
        elif s == 2:
            row = (row[:a] + [value[i]] + row[a:])[: len(row)]
        rows.append(jnp.stack(row))
    return jnp.stack(rows)


def operands(seed: int = 0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    buffer = jax.random.normal(keys[0], (ROWS, K))
    value = jax.random.normal(keys[1], (ROWS,))
    position = jnp.array([0, 1, 3, K, 2, K])  # K: no write
    return buffer, position, value


def test_put_matches_one_hot_where_in_value_jvp_and_grad():
    buffer, position, value = operands()
    np.testing.assert_array_equal(
        put(buffer, position, value), reference_put(buffer, position, value)
    )
    tangents = (jnp.ones_like(buffer) * 2.0, jnp.arange(ROWS, dtype=jnp.float32))
    ours = jax.jvp(lambda b, v: put(b, position, v), (buffer, value), tangents)[1]
    theirs = jax.jvp(lambda b, v: reference_put(b, position, v), (buffer, value), tangents)[1]
    np.testing.assert_array_equal(ours, theirs)

    def loss(f):
        return lambda b, v: jnp.sum(jnp.sin(f(b, position, v)) * jnp.arange(K))

    for ours, theirs in zip(
        jax.grad(loss(put), (0, 1))(buffer, value),
        jax.grad(loss(reference_put), (0, 1))(buffer, value),
        strict=True,
    ):
        np.testing.assert_allclose(ours, theirs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_insert_matches_list_insertion_and_its_gradient(seed):
    buffer, _, value = operands(seed)
    at = jnp.array([0, 2, 3, 1, 0, 3])
    side = jnp.array([2, 1, 2, 0, 1, 1])
    expected = reference_insert(buffer, at, side, value, 9.0)
    np.testing.assert_array_equal(insert(buffer, at, side, value, 9.0), expected)

    def loss(f):
        return lambda b, v: jnp.sum(jnp.cos(f(b, at, side, v, 9.0)) * jnp.arange(K))

    for ours, theirs in zip(
        jax.grad(loss(insert), (0, 1))(buffer, value),
        jax.grad(loss(reference_insert), (0, 1))(buffer, value),
        strict=True,
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_integer_buffers_take_the_plain_path():
    buffer = jnp.arange(ROWS * K, dtype=jnp.int32).reshape(ROWS, K)
    position = jnp.array([0, 1, 3, K, 2, K])
    value = -jnp.arange(ROWS, dtype=jnp.int32)
    np.testing.assert_array_equal(
        put(buffer, position, value), reference_put(buffer, position, value)
    )


def test_compact_picks_the_smallest_type():
    x = jnp.array([0, 3])
    assert compact(x, 4).dtype == jnp.int8
    assert compact(x, 200).dtype == jnp.int16
    assert compact(x, 70000).dtype == jnp.int32


def saved(f, *args) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_saved_residuals(f, *args)
    return out.getvalue()


def reference_take(held, mask, vacated):
    return jnp.where(mask, vacated, held), jnp.sum(jnp.where(mask, held, 0.0), axis=-1)


@pytest.mark.parametrize("k", [1, 4, 8, 9, 16, 17, 32, 33])
def test_take_matches_where_and_sum_in_value_jvp_and_grad(k):
    keys = jax.random.split(jax.random.PRNGKey(k), 3)
    held = jax.random.normal(keys[0], (ROWS, k))
    mask = jax.random.bernoulli(keys[1], 0.4, (ROWS, k)).at[0].set(True).at[1].set(False)
    held_dot = jax.random.normal(keys[2], (ROWS, k))
    for ours, theirs in zip(take(held, mask, 7.0), reference_take(held, mask, 7.0), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    ours = jax.jvp(lambda h: take(h, mask, 7.0), (held,), (held_dot,))[1]
    theirs = jax.jvp(lambda h: reference_take(h, mask, 7.0), (held,), (held_dot,))[1]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)

    def loss(f):
        def value(h):
            remaining, total = f(h, mask, 7.0)
            return jnp.sum(jnp.sin(remaining) * jnp.arange(k)) + jnp.sum(total**2)

        return value

    np.testing.assert_allclose(
        jax.grad(loss(take))(held), jax.grad(loss(reference_take))(held), rtol=1e-6
    )


@pytest.mark.parametrize("k, saved_as", [(8, "u8"), (9, "u16"), (32, "u32"), (33, "bool")])
def test_take_keeps_the_mask_as_packed_bits(k, saved_as):
    held = jnp.zeros((ROWS, k))
    mask = (jnp.arange(k) + jnp.arange(ROWS)[:, None]) % 3 == 0

    def loss(h):
        remaining, total = take(h, mask, 1.0)
        return jnp.sum(remaining**2) + jnp.sum(total**2)

    shape = f"[{ROWS}]" if saved_as != "bool" else f"[{ROWS},{k}]"
    assert f"{saved_as}{shape}" in saved(loss, held)


@pytest.mark.parametrize("kind", [FIFORing.sized(K), SortedArray.sized(K)])
def test_reverse_mode_keeps_a_byte_per_queue_for_the_enqueue_and_the_pop(kind):
    """An enqueue then a pop in a scan: reverse mode keeps the enqueue's positions as int8 and the
    pop's due slots as the bits of a uint8 (one each per queue), never a per-slot bool mask."""
    n, steps = 50, 3
    arrivals = 5.0 + jnp.arange(n, dtype=jnp.float32)

    def loss(shift):
        def step(queue, t):
            queue = queue.enqueue(arrivals + shift + t, when=arrivals > t)
            queue, hit = queue.pop(t)
            return queue, hit

        _, hits = jax.lax.scan(step, kind.init(40, grad=True, batch_shape=(n,)), jnp.arange(steps))
        return jnp.sum(hits)

    text = saved(loss, jnp.float32(0.0))
    assert f"i8[{steps},{n}]" in text
    assert f"u8[{steps},{n}]" in text
    assert f"bool[{steps},{n},{K}]" not in text
