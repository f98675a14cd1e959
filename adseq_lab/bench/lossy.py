"""Lossy queues, the paper's "selective spike dropping": Yin-Yang accuracy against capacity.

One Yin-Yang network is trained once (or loaded from ``--checkpoint``, e.g. written by
``adseq-lab yinyang --save``); its test set then runs with every synapse's delay handled by
``LossyRing[k]``, ``FIFORing[k]`` and ``SortedArray[k]`` for ``k = 1..8`` (one queue per
synapse, both layers). Per point: test accuracy, events dropped (all synapses, all test
examples; a queue counts every event it could not hold), and the time per simulated step of
the batched forward pass (``--batch`` examples, median of ``--repeats`` runs). Lossless
references (``ring``, and the per-neuron spike history the network was trained with) run the
same test. adseq 0.9.4 has no layered-network runner, so there is no side-by-side here.

Writes JSON (``--out``) and, where HoloViews is installed, an HTML plot (``--plot``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from math import nan
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from ..tasks.yinyang import YinYangConfig
from . import measure

KINDS = "lossy_ring,fifo_ring,sorted_array"
REFERENCES = "ring,history:2,history:8"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=str(measure.DEFAULT_DIR / "lossy_params.npz"),
        help="trained Yin-Yang parameters; trained and written there if missing",
    )
    defaults = YinYangConfig()
    parser.add_argument("--train-epochs", type=int, default=defaults.epochs)
    parser.add_argument("--train-queue", default=defaults.queue, help="delivery in training")
    parser.add_argument("--train-size", type=int, default=defaults.train_size)
    parser.add_argument("--hidden", type=int, default=defaults.hidden)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--kinds", default=KINDS, help="comma-separated queue kinds with capacity")
    parser.add_argument("--capacities", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--references", default=REFERENCES, help="lossless deliveries to compare")
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100, help="examples per timed forward pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(measure.DEFAULT_DIR / "lossy.json"))
    parser.add_argument("--plot", default=str(measure.DEFAULT_DIR / "lossy.html"))


def _trained(args: argparse.Namespace):
    from ..tasks.yinyang import train_yinyang
    from ..train.checkpoint import load_checkpoint, save_checkpoint

    config = dataclasses.replace(
        YinYangConfig(),
        hidden=args.hidden,
        seed=args.seed,
        epochs=args.train_epochs,
        queue=args.train_queue,
        train_size=args.train_size,
        batch_size=min(YinYangConfig().batch_size, args.train_size),
        validation_size=min(YinYangConfig().validation_size, args.train_size),
        test_size=args.test_size,
    )
    path = Path(args.checkpoint)
    template = config.init(jax.random.key(0))
    if path.exists():
        params, metadata = load_checkpoint(path, like=template)
        print(f"loaded {path} (trained: {metadata.get('test_accuracy', '?')} test accuracy)")
        return config, params
    print(f"training a network for {args.train_epochs} epochs ({args.train_queue}) ...")
    result = train_yinyang(config, progress=True)
    save_checkpoint(path, result.params, result.summary())
    print(f"wrote {path}: test accuracy {result.test_accuracy:.4f}")
    return config, result.params


def measure_point(config, params, test, batch: int, repeats: int) -> dict[str, Any]:
    """Accuracy, dropped events and forward time per step of ``config`` on ``test``."""
    from ..tasks.yinyang import evaluate, predictions

    forward = jax.vmap(lambda p, x: predictions(p, x, config), in_axes=(None, 0))
    start = time.perf_counter()
    executable = measure.compiled(forward, params, jnp.asarray(test.features[:batch]))
    compile_s = time.perf_counter() - start
    scores = evaluate(params, test, config, batch_size=batch, predict=executable)
    timing = measure.time_per_step(
        executable, (params, jnp.asarray(test.features[:batch])), config.steps, repeats
    )
    return {
        "accuracy": scores["accuracy"],
        "dropped_events": scores["dropped_events"],
        "dropped_per_example": scores["dropped_events"] / len(test),
        "silent": scores["silent"],
        "hidden_spikes": scores["hidden_spikes"],
        "us_per_step": timing["median_us"],
        "runs_us": timing["runs_us"],
        "compile_s": round(compile_s, 2),
        "batch": batch,
    }


def run(args: argparse.Namespace) -> int:
    from ..tasks.feedforward import parse_queue
    from ..tasks.yinyang_data import TEST_SEED, yinyang

    kinds = [k for k in args.kinds.split(",") if k]
    capacities = [int(c) for c in args.capacities.split(",") if c]
    references = [r for r in args.references.split(",") if r]
    specs = [(kind, f"{kind}:{c}", c) for kind in kinds for c in capacities]
    specs += [(ref, ref, None) for ref in references]
    for _, spec, _ in specs:
        parse_queue(spec)
    config, params = _trained(args)
    test = yinyang(args.test_size, TEST_SEED)
    rows = []
    for kind, spec, capacity in specs:
        variant = dataclasses.replace(config, queue=spec, input_queue=spec)
        row = {"kind": kind, "queue": spec, "capacity": capacity}
        try:
            row.update(measure_point(variant, params, test, args.batch, args.repeats))
        except Exception as error:  # a kind that cannot run this workload: record why
            row["error"] = f"{type(error).__name__}: {error}".splitlines()[0][:200]
        rows.append(row)
        print(
            f"{spec:>16}  accuracy {row.get('accuracy', float('nan')):.4f}  dropped "
            f"{row.get('dropped_per_example', float('nan')):7.2f}/example  "
            f"{row.get('us_per_step', float('nan')):9.1f} us/step",
            flush=True,
        )
    print()
    measure.print_table(rows, ["queue", "accuracy", "dropped_per_example", "silent", "us_per_step"])
    path = measure.write_json(
        args.out,
        {
            "workload": "lossy",
            "task": "yinyang",
            "trained_with": config.queue,
            "hidden": config.hidden,
            "steps": config.steps,
            "dt_ms": config.dt_ms,
            "test_size": args.test_size,
            "adseq": "no counterpart (adseq 0.9.4 has no layered-network runner)",
            "results": rows,
        },
    )
    print(f"\nwrote {path}")
    plot = save_plot(rows, kinds, capacities, args.plot) if args.plot else None
    if plot:
        print(f"wrote {plot}")
    return 0


def save_plot(
    rows: list[dict[str, Any]], kinds: list[str], capacities: list[int], path: str
) -> Path | None:
    """Accuracy, dropped events and time per step against capacity (HTML, HoloViews)."""
    try:
        import holoviews as hv

        from .. import plotting
    except ImportError:
        return None
    panels = []
    for value, label in (
        ("accuracy", "test accuracy"),
        ("dropped_per_example", "dropped events per example"),
        ("us_per_step", "time per step (µs)"),
    ):
        series = {
            kind: [
                next((r.get(value, nan) for r in rows if r["queue"] == f"{kind}:{c}"), nan)
                for c in capacities
            ]
            for kind in kinds
        }
        panels.append(
            plotting.curves(capacities, series, "capacity (events per synapse)", label, label)
        )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    hv.save(hv.Layout(panels).cols(1), out)
    return out
