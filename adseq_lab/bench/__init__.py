"""Benchmarks: ``adseq-lab bench <workload>`` (figures and JSON, never assertions)."""

from __future__ import annotations

import argparse
import importlib

WORKLOADS: tuple[tuple[str, str, str], ...] = (
    ("queues", "adseq_lab.bench.queues", "queue throughput: N vmapped queues, Poisson 100 Hz"),
    ("rsnn", "adseq_lab.bench.rsnn", "recurrent SNN: forward, jacfwd, grad per queue kind"),
    ("lossy", "adseq_lab.bench.lossy", "lossy queues: Yin-Yang accuracy against capacity"),
    ("sharding", "adseq_lab.bench.sharding", "one network split across 1-4 devices"),
    ("bridges", "adseq_lab.bench.bridges", "training step of the jaxley and flax bridges"),
    ("tasks", "adseq_lab.bench.tasks", "delay-learning targets: Yin-Yang, recovery, timing"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    workloads = parser.add_subparsers(dest="workload", required=True, metavar="workload")
    for name, module_name, summary in WORKLOADS:
        module = importlib.import_module(module_name)
        module.add_arguments(workloads.add_parser(name, help=summary, description=summary))


def run(args: argparse.Namespace) -> int | None:
    module_name = dict((n, m) for n, m, _ in WORKLOADS)[args.workload]
    return importlib.import_module(module_name).run(args)
