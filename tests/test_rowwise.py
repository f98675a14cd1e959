"""Row-wise writes (``implementations.rowwise``): the values and tangents of plain selects, with a
reverse-mode residual of one small integer per row."""

from __future__ import annotations

import contextlib
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import print_saved_residuals

from adseq_lab.implementations import FIFORing, SortedArray
from adseq_lab.implementations.rowwise import compact, insert, put

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


@pytest.mark.parametrize("kind", [FIFORing.sized(K), SortedArray.sized(K)])
def test_reverse_mode_keeps_a_byte_per_queue_for_the_enqueue(kind):
    """An enqueue then a pop in a scan: reverse mode keeps the enqueue's positions as int8 (one
    per queue), never a per-slot bool mask besides the pop's."""
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
    assert text.count(f"bool[{steps},{n},{K}]") == 1  # the pop's due mask only
