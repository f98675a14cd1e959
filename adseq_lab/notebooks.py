"""``adseq-lab notebooks``: execute the tutorial notebooks with papermill into a build folder.

Every ``*.ipynb`` in ``--source`` (default ``notebooks/``) runs in name order, in its own folder
(so relative paths resolve), with its ``parameters`` cell's CI-sized defaults unless ``-p NAME
VALUE`` overrides them. The executed copies go to ``--output`` (default ``build/notebooks/``) with
a ``timings.json``. A progress bar counts notebooks (and, below it, the cells of the current one).
The first failing cell stops the run: its notebook, cell and traceback are printed, exit status 1.

``--store`` writes the executed outputs back into the source notebooks (papermill's metadata
removed): this is how the committed outputs that ``pytest --nbval`` compares are produced. It
refuses ``-p`` overrides, since the stored outputs must come from the CI parameters.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "find_notebooks", "parse_value", "strip_execution_metadata"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source", type=Path, default=Path("notebooks"), help="folder of notebooks (notebooks/)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("build/notebooks"),
        help="folder for the executed copies (build/notebooks/)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only notebooks whose file name matches this glob (repeatable), e.g. '0[1-4]*'",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter of every notebook run (a Python literal, else a string)",
    )
    parser.add_argument(
        "--kernel", default=None, help="Jupyter kernel name (default: the notebook's)"
    )
    parser.add_argument(
        "--cell-timeout", type=int, default=900, help="seconds one cell may run (default 900)"
    )
    parser.add_argument(
        "--store",
        action="store_true",
        help="write the executed outputs back into the source notebooks (for committing)",
    )


def find_notebooks(source: Path, patterns: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The notebooks directly in ``source``, by name, filtered by the globs ``patterns``."""
    if not source.is_dir():
        raise ValueError(f"--source must be a folder of notebooks, {source} is not a folder")
    found = sorted(p for p in source.glob("*.ipynb") if not p.name.startswith("."))
    if patterns:
        found = [p for p in found if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    if not found:
        chosen = f" matching {', '.join(patterns)}" if patterns else ""
        raise ValueError(f"no notebooks{chosen} in {source}")
    return found


def parse_value(text: str) -> Any:
    """A parameter value from the command line: a Python literal (``3``, ``0.5``, ``'a'``,
    ``[1, 2]``, ``True``), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def strip_execution_metadata(path: Path, destination: Path | None = None) -> None:
    """Write the notebook at ``path`` to ``destination`` (default: back to ``path``) without its
    per-run metadata: papermill's timings and status, and the saved state of ipywidgets (large,
    and a widget needs a live kernel anyway), so a re-executed notebook only differs where its
    outputs do."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path if destination is None else destination)


def _failure(notebook: Path, error: Exception) -> str:
    lines = [f"\nFAILED: {notebook}"]
    cell = getattr(error, "exec_count", None)
    if cell is not None:
        lines.append(f"cell In [{cell}]: {error.ename}: {error.evalue}")
        lines.append("source:\n" + "\n".join("    " + s for s in str(error.source).splitlines()))
    lines.append(str(error))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import papermill
    from tqdm.auto import tqdm

    parameters = {name: parse_value(value) for name, value in args.parameter}
    if args.store and parameters:
        raise SystemExit("--store keeps the CI parameters' outputs: drop the -p overrides")
    if args.cell_timeout < 1:
        raise SystemExit(f"--cell-timeout must be >= 1 second, got {args.cell_timeout}")
    try:
        notebooks = find_notebooks(args.source, args.only)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    args.output.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    timings: dict[str, float] = {}
    bar = tqdm(notebooks, unit="notebook", desc="notebooks", file=sys.stderr)
    for notebook in bar:
        bar.set_postfix_str(notebook.name)
        target = args.output / notebook.name
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook),
                str(target),
                parameters=parameters or None,
                kernel_name=args.kernel,
                cwd=str(notebook.parent),
                progress_bar={"desc": notebook.stem, "leave": False, "position": 1},
                execution_timeout=args.cell_timeout,
            )
        except Exception as error:  # any failure: report it, then stop
            bar.close()
            print(_failure(notebook, error), file=sys.stderr)
            return 1
        timings[notebook.name] = round(time.perf_counter() - start, 1)
        if args.store:
            strip_execution_metadata(target, notebook)
    bar.close()
    (args.output / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    width = max(map(len, timings))
    for name, seconds in timings.items():
        print(f"{name:{width}}  {seconds:7.1f} s")
    stored = ", outputs stored in the sources" if args.store else ""
    print(f"{len(timings)} notebooks executed into {args.output}{stored}")
    return 0
