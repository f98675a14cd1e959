"""Timing, memory and report helpers shared by the benchmark workloads."""

from __future__ import annotations

import importlib.util
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

DEFAULT_DIR = Path("artifacts/bench")


def adseq_available() -> bool:
    """Whether the original adseq 0.9.4 is importable, for side-by-side runs."""
    return importlib.util.find_spec("adseq") is not None


def compiled(fn: Callable, *args: Any):
    """``jax.jit(fn)`` lowered and compiled for ``args`` (compile time is not counted)."""
    return jax.jit(fn).lower(*args).compile()


def peak_bytes(executable) -> int | None:
    """XLA's peak memory estimate of a compiled executable (arguments, outputs, temporaries)."""
    stats = executable.memory_analysis()
    if stats is None:
        return None
    peak = getattr(stats, "peak_memory_in_bytes", 0) or 0
    total = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return int(max(peak, total - stats.alias_size_in_bytes))


def time_per_step(executable, args: tuple, steps: int, repeats: int = 5) -> dict[str, float]:
    """Run ``executable(*args)`` ``repeats`` times after one warm-up; microseconds per step of
    wall time (``median_us``, ``min_us``, ``runs_us``) and of this process's CPU time, all
    threads (``cpu_median_us``: steadier than wall time on a shared machine)."""
    jax.block_until_ready(executable(*args))
    runs, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(executable(*args))
        runs.append((time.perf_counter() - start) / steps * 1e6)
        cpu.append((time.process_time() - start_cpu) / steps * 1e6)
    return {
        "median_us": statistics.median(runs),
        "min_us": min(runs),
        "runs_us": runs,
        "cpu_median_us": statistics.median(cpu),
    }


def host() -> dict[str, Any]:
    return {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
    }


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host(), **payload}, indent=2))
    return path


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print ``rows`` as aligned text columns."""
    cells = [[_format(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
