"""Queue throughput, the seed's batched Poisson workload.

``n`` queues side by side; each step every queue is popped at ``t`` and, with probability
``1 / lam`` (100 Hz at dt 0.025 ms for ``lam = 400``), receives an event due at ``t + delay``
(80 steps, 2 ms). Reported: microseconds per step (median of repeats) of wall time and of CPU
time (all threads; steadier on a shared machine), for adseq-lab and, in the same run, adseq 0.9.4
when it is installed.

BitArray32 holds delays under 32 steps only (adseq 0.9.4 wraps an 80-step delay around after a
warning; adseq-lab refuses it), so both run it at :data:`BIT_ARRAY32_DELAY` steps. The ``draw``
row of each ``n`` times the workload's random draw alone (the same loop with no queue): the floor
under every kind, which the one-event kinds (SingleSpike, SingleSpikeKeep) sit on.
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp

from ..queues import get, info
from . import measure

LAM = 400
DELAY = 80
BIT_ARRAY32_DELAY = 31

KINDS: tuple[tuple[str, int | None], ...] = (
    ("do_nothing", None),
    ("single_spike", None),
    ("single_spike_keep", None),
    ("ring", None),
    ("fifo_ring", 4),
    ("lossy_ring", 4),
    ("sorted_array", 4),
    ("binary_heap", 7),
    ("bgpq1", None),
    ("bit_array32", None),
)
"""The kinds and capacities of the seed's benchmark list."""


def _label(kind: str, capacity: int | None) -> str:
    return get(kind, capacity).__name__


def delay_steps(kind: str) -> int:
    """The workload's delay for ``kind`` (steps): 80, or the most a BitArray32 holds."""
    return BIT_ARRAY32_DELAY if kind == "bit_array32" else DELAY


def _draws(n: int):
    """The workload's random draw with no queue: ``(events, key)`` per step."""

    def draw(key):
        key, draw = jax.random.split(key)
        return jax.random.uniform(draw, (n,)) < 1.0 / LAM, key

    return draw


def _draw_only(kind: str, capacity: int | None, n: int):
    draw = _draws(n)

    def step(carry, _):
        queue, total, key, t = carry
        events, key = draw(key)
        return (queue, total + jnp.sum(events), key, t + 1), None

    return jnp.zeros(()), step


def _ours(kind: str, capacity: int | None, n: int):
    delay, draw = delay_steps(kind), _draws(n)
    queue = get(kind, capacity).init(delay, batch_shape=(n,))

    def step(carry, _):
        queue, total, key, t = carry
        events, key = draw(key)
        queue, hit = queue.pop(t)
        queue = queue.enqueue(t + delay, when=events)
        return (queue, total + jnp.sum(hit), key, t + 1), None

    return queue, step


def _adseq(kind: str, capacity: int | None, n: int):
    from adseq import implementations as original

    kind_type = getattr(original, info(kind).kind.__name__)  # same class names
    if capacity is not None:
        kind_type = kind_type.sized(capacity)
    delay, draw = delay_steps(kind), _draws(n)
    queue = jax.vmap(lambda _: kind_type.init(delay))(jnp.zeros(n))

    def step(carry, _):
        queues, total, key, t = carry
        events, key = draw(key)
        queues, hit = jax.vmap(lambda q: q.pop(t))(queues)
        queues = jax.vmap(lambda e, q: jax.lax.cond(e, lambda: q.enqueue(t + delay), lambda: q))(
            events, queues
        )
        return (queues, total + jnp.sum(hit), key, t + 1), None

    return queue, step


BUILDERS = {"adseq_lab": _ours, "adseq": _adseq, "draw": _draw_only}


def measure_point(
    kind: str,
    capacity: int | None,
    n: int,
    steps: int = 2000,
    repeats: int = 5,
    implementation: str = "adseq_lab",
) -> dict[str, Any]:
    """Time one (kind, n) point: ``{"kind", "n", "implementation", "median_us", ...}``.

    ``implementation`` is ``"adseq_lab"``, ``"adseq"`` (the original 0.9.4, if installed) or
    ``"draw"`` (the random draw alone, no queue; ``kind`` is ignored).
    """
    if implementation not in BUILDERS:
        raise ValueError(f"implementation must be one of {list(BUILDERS)}, got {implementation!r}")
    queue, step = BUILDERS[implementation](kind, capacity, n)

    def run(queue, key):
        carry, _ = jax.lax.scan(step, (queue, 0, key, 0), None, length=steps)
        return carry[1]

    args = (queue, jax.random.key(0))
    executable = measure.compiled(run, *args)
    timing = measure.time_per_step(executable, args, steps, repeats)
    draw = implementation == "draw"
    return {
        "kind": "draw" if draw else _label(kind, capacity),
        "name": "draw" if draw else kind,
        "capacity": None if draw else capacity,
        "n": n,
        "steps": steps,
        "delay": DELAY if draw else delay_steps(kind),
        "implementation": implementation,
        "delivered": int(executable(*args)),
        **timing,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated N")
    parser.add_argument(
        "--kinds",
        default=",".join(k for k, _ in KINDS),
        help="comma-separated registry names (capacities as in the seed's list)",
    )
    parser.add_argument("--steps", type=int, default=2000, help="time steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per point")
    parser.add_argument("--no-adseq", action="store_true", help="skip adseq 0.9.4")
    parser.add_argument(
        "--no-draw", action="store_true", help="skip the draw row (the random draw alone)"
    )
    parser.add_argument("--out", default=str(measure.DEFAULT_DIR / "queues.json"))


def run(args: argparse.Namespace) -> int:
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    capacities = dict(KINDS)
    kinds = args.kinds.split(",")
    unknown = [k for k in kinds if k not in capacities]
    if unknown:
        raise SystemExit(f"unknown kinds {unknown}; choose from {list(capacities)}")
    implementations = ["adseq_lab"]
    if not args.no_adseq and measure.adseq_available():
        implementations.append("adseq")
    rows = []
    for n in sizes:
        if not args.no_draw:
            row = measure_point("do_nothing", None, n, args.steps, args.repeats, "draw")
            rows.append(row)
            print(f"{'draw':>16} n={n:<7} {'':<9} {row['median_us']:9.1f} us/step", flush=True)
        for kind in kinds:
            for implementation in implementations:
                try:
                    row = measure_point(
                        kind, capacities[kind], n, args.steps, args.repeats, implementation
                    )
                except Exception as error:  # the original fails for some kinds; record it
                    row = {
                        "kind": _label(kind, capacities[kind]),
                        "name": kind,
                        "n": n,
                        "implementation": implementation,
                        "error": f"{type(error).__name__}: {error}"[:200],
                    }
                rows.append(row)
                print(
                    f"{row['kind']:>16} n={n:<7} {implementation:<9} "
                    + (f"{row['median_us']:9.1f} us/step" if "median_us" in row else row["error"]),
                    flush=True,
                )
    table = _side_by_side(rows)
    print()
    measure.print_table(
        table,
        ["kind", "n", "adseq_lab_us", "adseq_us", "speedup", "adseq_lab_cpu_us", "adseq_cpu_us",
         "cpu_speedup", "draw_cpu_us"],
    )  # fmt: skip
    path = measure.write_json(
        args.out,
        {"workload": "queues", "lam": LAM, "delay": DELAY, "results": rows, "summary": table},
    )
    print(f"\nwrote {path}")
    return 0


def _side_by_side(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (kind, n): both implementations' times, their ratios, and the draw's CPU
    time at that ``n`` (the floor under every kind)."""
    floor = {row["n"]: row.get("cpu_median_us") for row in rows if row["implementation"] == "draw"}
    paired: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        if row["implementation"] == "draw":
            continue
        entry = paired.setdefault((row["kind"], row["n"]), {"kind": row["kind"], "n": row["n"]})
        entry[f"{row['implementation']}_us"] = row.get("median_us")
        entry[f"{row['implementation']}_cpu_us"] = row.get("cpu_median_us")
    for entry in paired.values():
        for speedup, ours, theirs in (
            ("speedup", entry.get("adseq_lab_us"), entry.get("adseq_us")),
            ("cpu_speedup", entry.get("adseq_lab_cpu_us"), entry.get("adseq_cpu_us")),
        ):
            entry[speedup] = theirs / ours if ours and theirs else None
        entry["draw_cpu_us"] = floor.get(entry["n"])
    return list(paired.values())
