"""``adseq-lab sweep``: run a grid of network simulations (locally or on a Dask cluster) into a
CSV or Parquet table, one row per grid point.

Every finished row is appended to ``<out>.rows.jsonl`` as it arrives, so an interrupted or failed
sweep loses nothing; ``--resume`` reuses those rows (and the rows of an existing ``--out``) and
runs only the missing points. Example::

    adseq-lab sweep --queues ring,fifo_ring --sizes 20,40 --steps 200 --seeds 0,1 \\
        --scheduler tcp://127.0.0.1:8786 --out results.csv
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

from . import sweep
from .sweep_store import RowStore

SUMMARY_COLUMNS = [
    "queue",
    "capacity",
    "n_neurons",
    "seed",
    "spikes",
    "mean_rate_hz",
    "dropped",
    "us_per_step",
    "peak_bytes",
]


def _literal(text: str) -> Any:
    """A command-line value: int, float, true/false, none, else the string itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text.strip()


def _values(convert: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        items = [item for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        try:
            return [convert(item.strip()) for item in items]
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def _assignment(text: str) -> tuple[str, list]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=V1[,V2...], got {text!r}")
    return name.strip(), _values(_literal)(values)


def _metrics(text: str) -> sweep.Metrics:
    module_name, sep, attribute = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected module:function, got {text!r}")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise argparse.ArgumentTypeError(f"cannot import {text}: {error}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queues", type=_values(str), default=["fifo_ring"], help="queue kinds")
    parser.add_argument("--capacities", type=_values(int), default=[4], help="queue capacities")
    parser.add_argument("--sizes", type=_values(int), default=[20], help="neurons per network")
    parser.add_argument("--steps", type=_values(int), default=[200], help="time steps per run")
    parser.add_argument("--seeds", type=_values(int), default=[0], help="network/drive seeds")
    parser.add_argument("--delays", type=_values(float), help="mean delays (ms)")
    parser.add_argument("--delay-spreads", type=_values(float), help="delay spreads (ms)")
    parser.add_argument("--max-delays", type=_values(float), help="queue reach (ms)")
    parser.add_argument("--arrangements", type=_values(str), help="per_synapse and/or per_neuron")
    parser.add_argument(
        "--set",
        dest="assignments",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=V1[,V2...]",
        help="any other sweep/network parameter as an axis, e.g. connection_prob=0.2,0.5",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per point (0: no timing)"
    )
    parser.add_argument("--metrics", type=_metrics, help="extra metrics, module:function")
    parser.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786")
    parser.add_argument("--retries", type=int, default=2, help="Dask retries of a failing task")
    parser.add_argument(
        "--out", default="artifacts/sweep/sweep.csv", help="table path, .csv or .parquet"
    )
    parser.add_argument("--resume", action="store_true", help="reuse rows already computed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _axes(args: argparse.Namespace) -> dict[str, list]:
    axes: dict[str, list] = {
        "queue": args.queues,
        "capacity": args.capacities,
        "n_neurons": args.sizes,
        "steps": args.steps,
        "seed": args.seeds,
        "repeats": [args.repeats],
    }
    optional = {
        "delay_ms": args.delays,
        "delay_spread_ms": args.delay_spreads,
        "max_delay_ms": args.max_delays,
        "arrangement": args.arrangements,
    }
    axes.update({name: values for name, values in optional.items() if values})
    for name, values in args.assignments:
        axes[name] = values
    return axes


def run(args: argparse.Namespace) -> int:
    try:
        points = sweep.grid(**_axes(args))
        store = RowStore(args.out)
    except ValueError as error:
        print(f"adseq-lab sweep: error: {error}", file=sys.stderr)
        return 2
    finished = store.start(resume=args.resume)
    ids = [sweep.point_id(p) for p in points]
    rows = [{**finished[i], **p} for i, p in zip(ids, points, strict=True) if i in finished]
    todo = [p for i, p in zip(ids, points, strict=True) if i not in finished]
    where = args.scheduler or "this process"
    print(f"{len(points)} grid points: {len(rows)} reused, {len(todo)} to run on {where}")
    status = 0
    try:
        for row in sweep.iter_sweep(
            todo,
            scheduler=args.scheduler,
            retries=args.retries,
            metrics=args.metrics,
            progress=not args.no_progress,
        ):
            store.append(row)
            rows.append(row)
    except KeyboardInterrupt:
        status = 130
        print("interrupted", file=sys.stderr)
    except sweep.SweepError as error:
        status = 1
        print(error, file=sys.stderr)
    finally:
        store.close(finished=len(rows) == len(points))
    store.write(sweep.to_frame(rows, points))
    print(f"wrote {len(rows)} of {len(points)} rows to {store.path}")
    if status:
        print(f"rows so far are kept; rerun with --resume to finish ({store.sidecar})")
    elif len(rows) <= 40:
        from .bench.measure import print_table

        order = {i: k for k, i in enumerate(ids)}
        print_table(sorted(rows, key=lambda row: order[row["point_id"]]), SUMMARY_COLUMNS)
    return status
