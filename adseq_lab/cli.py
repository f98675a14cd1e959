"""The ``adseq-lab`` command. Each command is a module with ``add_arguments(parser)`` and
``run(args)``, imported only when chosen so ``adseq-lab bench`` never loads Panel."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("bench", "adseq_lab.bench", "benchmarks: queue throughput, recurrent network, lossy queues"),
    ("serve", "adseq_lab.serve", "dashboards in the browser on http://127.0.0.1:5006"),
    ("sweep", "adseq_lab.sweep_cli", "parameter sweeps, local or on Dask, to CSV/Parquet"),
    ("notebooks", "adseq_lab.notebooks", "execute the tutorial notebooks with papermill"),
    ("yinyang", "adseq_lab.tasks.yinyang_cli", "train Yin-Yang with learned delays (TTFS)"),
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="adseq-lab", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, module_name, summary in COMMANDS:
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(subparsers.add_parser(name, help=summary, description=summary))
        else:
            subparsers.add_parser(name, help=summary, add_help=False)
    args = parser.parse_args(argv)
    module = importlib.import_module(dict((n, m) for n, m, _ in COMMANDS)[args.command])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
