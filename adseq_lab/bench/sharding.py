"""One recurrent network split across 1, 2, 4, ... devices (:mod:`adseq_lab.sharding`): time per
step, XLA's peak memory per device, the bytes of synapse arrays each device holds, and whether the
raster equals the one-device run.

Workload: ``n`` LIF neurons, connection probability 0.5, weights ``0.5 / sqrt(0.5 n) N(0, 1)``,
delays ``1 + 0.3 N(0, 1)`` ms (max 2 ms), dt 0.1 ms, constant current ``0.3 (1 + 0.1 U(-1, 1))``.
``--sizes`` are built and run; ``--memory-sizes`` are only compiled from shapes (nothing is
allocated), for networks too large for this host.

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


def build(key: jax.Array, n: int, steps: int, arrangement: str, queue: str, capacity: int):
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
    current = inputs.constant_current(steps, n, 0.3 * (1.0 + 0.1 * spread), 0.1)
    return net, params, inputs.Drive(current=current)


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
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per point")
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
    for name in ("capacity", "steps", "repeats", "out"):
        argv += [f"--{name}", str(getattr(args, name))]
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
    path = measure.write_json(
        args.out,
        {
            "workload": "sharding",
            "steps": args.steps,
            "queue": args.queue,
            "capacity": args.capacity,
            "simulated_cpu_devices": jax.default_backend() == "cpu",
            "results": rows,
        },
    )
    print(f"\nwrote {path}")
    return 0
