"""One recurrent network split across 1, 2, 4, ... devices (:mod:`adseq_lab.sharding`): time per
step, XLA's peak memory per device, the bytes of synapse arrays each device holds, and whether the
raster equals the one-device run.

Workload: ``n`` LIF neurons, connection probability 0.5, weights ``0.5 / sqrt(0.5 n) N(0, 1)``,
delays ``1 + 0.3 N(0, 1)`` ms (max 2 ms), dt 0.1 ms, constant current ``c (1 + 0.1 U(-1, 1))``
(``--current``; 0.3: first spikes after about 4 ms; 1.0: after about 1 ms, for short runs of
large networks). ``--sizes`` are built and run; ``--memory-sizes`` are only compiled from shapes
(nothing is allocated), for networks too large for this host. ``--fit-gib`` estimates the largest
``n`` per device count within that much memory per device and checks it by compiling it.

On a CPU host the devices are simulated (``--xla_force_host_platform_device_count``, set here by
re-running in a subprocess when fewer devices exist): they share the same cores and memory, so
the memory split is real but the time per step says nothing about speed-ups on real devices.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import time
from typing import Any

import jax
import numpy as np

from .. import inputs, network, sharding
from . import measure

CHILD_ENV = "ADSEQ_LAB_SHARDING_CHILD"
COLUMNS = [
    "arrangement",
    "n",
    "devices",
    "us_per_step",
    "peak_mb_per_device",
    "synapse_mb_per_device",
    "same_raster",
    "spikes",
    "compile_s",
]


def build(
    key: jax.Array,
    n: int,
    steps: int,
    arrangement: str,
    queue: str,
    capacity: int,
    current: float = 0.3,
):
    """``(net, params, drive)`` of the workload (jit/eval_shape friendly)."""
    k_net, k_current = jax.random.split(key)
    net, params = network.build_network(
        k_net,
        n,
        connection_prob=0.5,
        weight_scale=0.5 / float(np.sqrt(0.5 * n)),
        delay_ms=1.0,
        delay_spread_ms=0.3,
        max_delay_ms=2.0,
        dt_ms=0.1,
        arrangement=arrangement,
        queue=queue,
        capacity=capacity,
        history=capacity,
        record_voltage=(),
        checkpoint=None,
    )
    spread = jax.random.uniform(k_current, (n,), minval=-1.0, maxval=1.0)
    amplitude = current * (1.0 + 0.1 * spread)
    return net, params, inputs.Drive(current=inputs.constant_current(steps, n, amplitude, 0.1))


def _device0_mb(placed: tuple) -> float:
    """MB of the placed arguments that live on the first device (all synapse arrays, state)."""
    first = jax.devices()[0]
    total = 0
    for leaf in jax.tree.leaves(placed):
        for shard in leaf.addressable_shards:
            if shard.device == first:
                total += shard.data.nbytes
    return total / 2**20


def measure_one(
    workload: tuple, devices: int, steps: int, repeats: int, reference: np.ndarray | None
) -> dict[str, Any]:
    start = time.perf_counter()
    executable, placed = sharding.compile_sharded(
        *workload, mesh=sharding.post_mesh(devices), steps=steps
    )
    row: dict[str, Any] = {"devices": devices, "compile_s": time.perf_counter() - start}
    row["peak_mb_per_device"] = (measure.peak_bytes(executable) or 0) / 2**20
    if isinstance(jax.tree.leaves(placed)[0], jax.ShapeDtypeStruct):
        return row
    row["synapse_mb_per_device"] = _device0_mb(placed)
    raster = np.asarray(executable(*placed).spikes)
    row["spikes"] = int(raster.sum())
    row["same_raster"] = None if reference is None else bool(np.array_equal(raster, reference))
    row["raster"] = raster
    if repeats:
        row["us_per_step"] = measure.time_per_step(executable, placed, steps, repeats)["median_us"]
    return row


FIT_COLUMNS = ["arrangement", "devices", "bytes_per_synapse", "largest_n", "peak_gib_at_n"]


def largest_that_fit(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[dict]:
    """Per arrangement and device count: bytes per synapse on one device (peak / (n^2 / d),
    from the largest n measured), the largest multiple of ``d`` that fits in ``--fit-gib``, and
    XLA's peak for that n (compiled from shapes to check the estimate)."""
    budget = args.fit_gib * 2**30
    fits = []
    for arrangement in dict.fromkeys(row["arrangement"] for row in rows):
        for devices in dict.fromkeys(row["devices"] for row in rows):
            same = [r for r in rows if (r["arrangement"], r["devices"]) == (arrangement, devices)]
            largest = max(same, key=lambda r: r["n"])
            per_synapse = largest["peak_mb_per_device"] * 2**20 / (largest["n"] ** 2 / devices)
            n = int(np.sqrt(budget * devices / per_synapse)) // devices * devices
            make = functools.partial(
                build,
                n=n,
                steps=args.steps,
                arrangement=arrangement,
                queue=args.queue,
                capacity=args.capacity,
            )
            workload = jax.eval_shape(make, jax.random.key(0))
            executable, _ = sharding.compile_sharded(
                *workload, mesh=sharding.post_mesh(devices), steps=args.steps
            )
            peak = (measure.peak_bytes(executable) or 0) / 2**30
            fits.append(
                dict(
                    arrangement=arrangement,
                    devices=devices,
                    bytes_per_synapse=per_synapse,
                    largest_n=n,
                    peak_gib_at_n=peak,
                )
            )
    return fits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="1000", help="n to build and run, comma-separated")
    parser.add_argument(
        "--memory-sizes", default="", help="n to compile only (memory figures), comma-separated"
    )
    parser.add_argument("--devices", default="1,2,4", help="device counts, comma-separated")
    parser.add_argument("--arrangements", default="per_synapse,per_neuron")
    parser.add_argument("--queue", default="fifo_ring", help="queue kind of per_synapse")
    parser.add_argument("--capacity", type=int, default=4, help="queue capacity / history")
    parser.add_argument("--steps", type=int, default=200, help="time steps per timed run")
    parser.add_argument("--current", type=float, default=0.3, help="injected current (LIF)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per point")
    parser.add_argument(
        "--fit-gib",
        type=float,
        default=16.0,
        help="device memory (GiB) for the 'largest n that fits' estimate (0: skip)",
    )
    parser.add_argument("--out", default=str(measure.DEFAULT_DIR / "sharding.json"))


def _ints(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item.strip()]


def _rerun_with_devices(args: argparse.Namespace, count: int) -> int:
    """Run this workload again in a subprocess that simulates ``count`` CPU devices."""
    flags = os.environ.get("XLA_FLAGS", "")
    env = dict(
        os.environ,
        XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={count}".strip(),
        JAX_PLATFORMS="cpu",
        **{CHILD_ENV: "1"},
    )
    argv = ["bench", "sharding"]
    for name in ("sizes", "memory_sizes", "devices", "arrangements", "queue"):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    for name in ("capacity", "steps", "current", "repeats", "fit_gib", "out"):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    print(f"re-running with {count} simulated CPU devices (XLA_FLAGS)", flush=True)
    return subprocess.call([sys.executable, "-m", "adseq_lab.cli", *argv], env=env)


def run(args: argparse.Namespace) -> int:
    device_counts = _ints(args.devices)
    if not device_counts or min(device_counts) < 1:
        raise SystemExit(f"--devices must be positive counts, got {args.devices!r}")
    available = len(jax.devices())
    if max(device_counts) > available:
        if jax.default_backend() == "cpu" and not os.environ.get(CHILD_ENV):
            return _rerun_with_devices(args, max(device_counts))
        raise SystemExit(f"--devices asks for {max(device_counts)}, only {available} exist")
    rows: list[dict[str, Any]] = []
    for arrangement in [a for a in args.arrangements.split(",") if a]:
        for n, run_it in [(n, True) for n in _ints(args.sizes)] + [
            (n, False) for n in _ints(args.memory_sizes)
        ]:
            make = functools.partial(
                build,
                n=n,
                steps=args.steps,
                arrangement=arrangement,
                queue=args.queue,
                capacity=args.capacity,
                current=args.current,
            )
            key = jax.random.key(0)
            workload = jax.jit(make)(key) if run_it else jax.eval_shape(make, key)
            reference = None
            for devices in device_counts:
                if n % devices:
                    print(f"skip n={n} on {devices} devices (not a multiple)")
                    continue
                row = measure_one(workload, devices, args.steps, args.repeats, reference)
                raster = row.pop("raster", None)
                if reference is None and raster is not None:
                    reference = raster
                row.update(arrangement=arrangement, n=n, mode="run" if run_it else "compile")
                rows.append(row)
                print(", ".join(f"{k}={row.get(k)}" for k in COLUMNS if k in row), flush=True)
    print()
    measure.print_table(rows, COLUMNS)
    fits = largest_that_fit(rows, args) if args.fit_gib > 0 else []
    if fits:
        print(f"\nlargest n within {args.fit_gib:g} GiB per device (checked by compiling it):")
        measure.print_table(fits, FIT_COLUMNS)
    path = measure.write_json(
        args.out,
        {
            "workload": "sharding",
            "steps": args.steps,
            "current": args.current,
            "queue": args.queue,
            "capacity": args.capacity,
            "simulated_cpu_devices": jax.default_backend() == "cpu",
            "results": rows,
            "fit_gib": args.fit_gib,
            "largest_n": fits,
        },
    )
    print(f"\nwrote {path}")
    return 0
