"""Checkpointed scans equal plain scans in values and gradients, for any chunking."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adseq_lab.remat import auto_chunks, checkpointed_scan, state_bytes


def step(carry, x):
    h, total = carry
    h = jnp.tanh(0.9 * h + x)
    return (h, total + jnp.sum(h**2)), h[0]


XS = jax.random.normal(jax.random.key(0), (37, 3))
CARRY = (jnp.ones(3) * 0.1, jnp.float32(0.0))


@pytest.mark.parametrize("chunks", [(), (5,), (10, 3), (64,), (36,)])
def test_values_and_gradients_equal_plain_scan(chunks):
    def plain(xs):
        (h, total), ys = jax.lax.scan(step, CARRY, xs)
        return total + jnp.sum(ys), ys

    def checkpointed(xs):
        (h, total), ys = checkpointed_scan(step, CARRY, xs, xs.shape[0], chunks)
        return total + jnp.sum(ys), ys

    np.testing.assert_allclose(plain(XS)[1], checkpointed(XS)[1], rtol=1e-6)
    expected = jax.grad(lambda xs: plain(xs)[0])(XS)
    actual = jax.jit(jax.grad(lambda xs: checkpointed(xs)[0]))(XS)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_none_xs_with_length():
    carry, ys = checkpointed_scan(lambda c, _: (c + 1, c), 0, None, 11, (4,))
    assert int(carry) == 11
    assert ys.tolist() == list(range(11))


def test_auto_chunks_stay_within_budget():
    assert auto_chunks(10_000, 1_000, 2**30) == ()
    chunks = auto_chunks(10_000, 200_000, 256 * 2**20)
    assert len(chunks) == 1 and 90 <= chunks[0] <= 110
    deep = auto_chunks(10_000, 22_000_000, 256 * 2**20)
    assert len(deep) == 3
    assert state_bytes((jnp.zeros((4, 5)), jnp.zeros(3, jnp.int8))) == 83
