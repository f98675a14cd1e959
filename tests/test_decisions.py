"""Replayed choices (``implementations.decisions``): the values and tangents of the plain selects,
with a reverse-mode residual of packed bits per queue; the heap operations written on them."""

from __future__ import annotations

import contextlib
import functools
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import print_saved_residuals

from adseq_lab.implementations import BGPQ1, BinaryHeap, bgpq1, binary_heap, heap
from adseq_lab.implementations.base import never
from adseq_lab.implementations.decisions import _word_sizes, apply, evaluate

ROWS = 64


@pytest.mark.parametrize(
    "count, sizes",
    [(1, [8]), (8, [8]), (9, [16]), (17, [16, 8]), (24, [16, 8]), (25, [32]), (41, [32, 16])],
)
def test_bits_pack_into_whole_bytes(count, sizes):
    assert _word_sizes(count) == sizes
    assert sum(sizes) // 8 == -(-count // 8)


def _choose(count, moving, fixed, decide, empty):
    """One select per condition of ``fixed`` (``count`` rows) between the two moving rows (or
    empty)."""
    a, b = moving
    outs = []
    for j in range(count):
        pick = decide(lambda j=j: fixed[j] > 0)
        gone = decide(lambda j=j: fixed[j] < -1)
        outs.append(jnp.where(pick, a, jnp.where(gone, empty, b)))
    return tuple(outs)


@pytest.mark.parametrize("count", [1, 4, 5, 9, 17, 35])
def test_replayed_bits_give_the_plain_tangents(count):
    """Every bit (two per condition) comes back in its place, across word sizes: jvp and grad
    equal ``evaluate``'s."""
    keys = jax.random.split(jax.random.key(count), 4)
    a, b = jax.random.normal(keys[0], (2, ROWS))
    fixed = jax.random.normal(keys[1], (count, ROWS))
    tangents = tuple(jax.random.normal(keys[2], (2, ROWS)))

    def run(f):
        return lambda a, b: f(functools.partial(_choose, count), (a, b), fixed)

    ours = jax.jvp(run(apply), (a, b), tangents)
    plain = jax.jvp(run(evaluate), (a, b), tangents)
    for x, y in zip(jax.tree.leaves(ours), jax.tree.leaves(plain), strict=True):
        np.testing.assert_array_equal(x, y)

    weights = jax.random.normal(keys[3], (count, ROWS))

    def loss(f):
        return lambda a, b: jnp.sum(jnp.sin(jnp.stack(run(f)(a, b))) * weights)

    for x, y in zip(
        jax.grad(loss(apply), (0, 1))(a, b), jax.grad(loss(evaluate), (0, 1))(a, b), strict=True
    ):
        np.testing.assert_allclose(x, y, rtol=1e-6)


def _heaps(kind, seed: int):
    """``ROWS`` heaps of ``kind`` filled with small integer arrivals (many ties), as floats."""
    queue = kind.init(20, batch_shape=(ROWS,))
    key = jax.random.key(seed)
    for _ in range(kind.capacity + 2):
        key, draw, fire = jax.random.split(key, 3)
        arrival = jax.random.randint(draw, (ROWS,), 2, 7)
        queue = queue.enqueue(arrival, when=jax.random.uniform(fire, (ROWS,)) < 0.8)
    empty = never(jnp.float32)
    return tuple(jnp.where(n == never(n.dtype), empty, n) for n in queue.nodes)


OPS = [
    ("pop", BinaryHeap.sized(7), heap._pop),
    ("pop", BGPQ1.sized(8), heap._pop),
    ("sift_up", BinaryHeap.sized(7), binary_heap._sift_up),
    ("walk_down", BGPQ1.sized(8), bgpq1._walk_down),
]


@pytest.mark.parametrize("name, kind, op", OPS, ids=[f"{n}-{k}" for n, k, _ in OPS])
@pytest.mark.parametrize("seed", [0, 1])
def test_heap_operations_move_tangents_as_their_selects_do(name, kind, op, seed):
    """Values, jvp and grad of each heap operation through replayed bits equal those of its
    plain selects (ties included, so which equal event moves where is checked too)."""
    nodes = _heaps(kind, seed)
    k = len(nodes)
    keys = jax.random.split(jax.random.key(100 + seed), 4)
    if name == "pop":
        fixed = jnp.float32(4.0)
        moving = nodes
    else:
        arrival = jax.random.randint(keys[0], (ROWS,), 1, 8).astype(jnp.float32)
        target, _ = heap.insertion_node(list(nodes), arrival)
        fixed = jnp.where(jax.random.uniform(keys[1], (ROWS,)) < 0.8, target, k)
        moving = (*nodes, arrival)
    tangents = tuple(
        jax.random.normal(key, (ROWS,)) for key in jax.random.split(keys[2], len(moving))
    )

    def run(f):
        return lambda *m: f(op, m, fixed)

    ours = jax.jvp(run(apply), moving, tangents)
    plain = jax.jvp(run(evaluate), moving, tangents)
    for x, y in zip(jax.tree.leaves(ours), jax.tree.leaves(plain), strict=True):
        np.testing.assert_array_equal(x, y)
    moved = jax.tree.leaves(ours[0])[:k]
    assert any(not np.array_equal(x, y) for x, y in zip(moved, nodes, strict=True))

    def loss(f):
        def total(*m):
            leaves = jax.tree.leaves(run(f)(*m))
            return sum(jnp.sum(jnp.where(x < 1e30, x, 0) * (i + 1)) for i, x in enumerate(leaves))

        return total

    argnums = tuple(range(len(moving)))
    for x, y in zip(
        jax.grad(loss(apply), argnums)(*moving),
        jax.grad(loss(evaluate), argnums)(*moving),
        strict=True,
    ):
        np.testing.assert_allclose(x, y, rtol=1e-6)


def saved(f, *args) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_saved_residuals(f, *args)
    return out.getvalue()


@pytest.mark.parametrize("kind", [BinaryHeap.sized(7), BGPQ1.sized(8)])
def test_reverse_mode_keeps_packed_bits_per_queue(kind):
    """An enqueue then a pop in a scan: reverse mode keeps 5 bytes per queue and step (the
    enqueue's choices in a uint16, the pop's in a uint16 and a uint8), no bool masks."""
    n, steps = 50, 3
    arrivals = 5.0 + jnp.arange(n, dtype=jnp.float32)

    def loss(shift):
        def step(queue, t):
            queue = queue.enqueue(arrivals + shift + t, when=arrivals > t + 20)
            queue, hit = queue.pop(t)
            return queue, hit

        _, hits = jax.lax.scan(step, kind.init(40, grad=True, batch_shape=(n,)), jnp.arange(steps))
        return jnp.sum(hits)

    text = saved(loss, jnp.float32(0.0))
    assert text.count(f"u16[{steps},{n}]") == 2
    assert text.count(f"u8[{steps},{n}]") == 1
    assert "bool" not in text and "f32" not in text
