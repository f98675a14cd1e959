"""Recurrent SNN, the seed's workload: forward, ``jacfwd`` w.r.t. a delay shift, ``grad`` w.r.t.
weights, microseconds per step and XLA peak memory, per queue kind.

The workload (adseq's ``benchmarks/profile_recurrent_snn.py``): ``n`` LIF neurons (tau_mem
10 ms, threshold 1, SuperSpike reset), ``n * n`` delayed synapses (tau_syn 2 ms), dt 0.025 ms,
delays ``4 + 0.5 N(0, 1)`` ms (max 7 ms), weights ``sqrt(23)/sqrt(n) * 0.05 * N(0, 1)**2`` with a
zero diagonal (weights and delays drawn from the same key, as there), an injected current of 1
for ``t < 2 ms``. Three ways to run it:

- ``adseq``: adseq 0.9.4's ``mk_synapses`` in the seed's loop (if installed);
- ``seed``: the same loop with ``adseq_lab.synapse.mk_synapses`` (the seed API on our queues);
- ``network``: :func:`adseq_lab.network.simulate` on the same weights and delays, arrangement
  ``per_synapse`` (each queue kind) and ``per_neuron`` (memory-lean, ``history`` spikes per
  neuron). Its synapses are the standard ``I_j += w_ij`` per arrival, exact reset gradient; the
  seed loop instead feeds ``w @ roll(sum_i isyn_ij)``, so the spike counts differ (reported).

Losses: seed loops, the sum of SuperSpike outputs (the original's; the forward row reports it as
``spikes``, the number of resets); network, the sum of spike times plus 1e-3 x the sum of
voltages (exact spike-time gradients; its forward row counts spikes). ``peak_mb`` is XLA's
estimate for the compiled program; ``grad_peak_mb_at`` compiles (never runs) the reverse-mode
program at ``--memory-steps`` (default 10,000) steps. The full-length timing run is
``adseq-lab bench rsnn --steps 10000``; n = 300 and 1000: ``--sizes 100,300,1000``.

Every implementation in a run is compiled with the same XLA flags: by default
:data:`adseq_lab.xla_options.CPU_XLA_FLAG` (YNN fusions off, which speeds adseq-lab's loops up
and leaves adseq 0.9.4's unchanged); ``--xla-defaults`` keeps XLA's defaults.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import network, queues, xla_options
from ..inputs import Drive, constant_current
from ..neurons import lif_step
from . import measure

DT_MS = 0.025
TAU_SYN_MS = 2.0
TAU_MEM_MS = 10.0
VTHRES = 1.0
MAX_DELAY_MS = 7.0
CURRENT_UNTIL_MS = 2.0

SEED_KINDS = "do_nothing,ring,single_spike,single_spike_keep,fifo_ring:4,sorted_array:4"
MODES = ("forward", "jacfwd", "grad")


def workload(n: int) -> tuple[jax.Array, jax.Array]:
    """``(weight, delay_ms)``, ``(n, n)`` each, drawn as in the seed's benchmark."""
    key = jax.random.PRNGKey(0)
    draw = jax.random.normal(key, (n, n))
    weight = jnp.sqrt(23.0) / jnp.sqrt(float(n)) * 0.05 * (draw * (1 - jnp.eye(n))) ** 2
    delays = 4.0 + 0.5 * jax.random.normal(key, (n, n))
    return weight, delays


def _parse_kind(spec: str) -> tuple[str, int | None]:
    name, _, capacity = spec.partition(":")
    queues.info(name)
    return name, int(capacity) if capacity else None


def _label(name: str, capacity: int | None) -> str:
    return queues.get(name, capacity).__name__


def seed_loop(library: Any, kind: Any, n: int, steps: int) -> Callable:
    """``run(weight, delays) -> (voltages, superspikes)``: the seed's loop over ``library``'s
    ``synapse.mk_synapses`` (``library`` is ``adseq`` or ``adseq_lab``)."""

    def run(weight, delays):
        syn = library.synapse.mk_synapses(
            kind,
            delay_ms=delays.reshape(-1),
            dt_ms=DT_MS,
            vthres=VTHRES,
            tau_syn_ms=TAU_SYN_MS,
            n=n * n,
            max_delay_ms=MAX_DELAY_MS,
        )

        def step(state, t):
            v, syn = state
            isyn = weight @ jnp.roll(syn.isyn.reshape((n, n)).sum(0), 1) + 1.0 * (
                t < CURRENT_UNTIL_MS
            )
            vnext, s = lif_step(
                v,
                isyn,
                dt_ms=DT_MS,
                tau_mem_ms=TAU_MEM_MS,
                vthres=VTHRES,
                reset_gradient="surrogate",
            )
            syn = syn.timestep_spike_detect_pre(
                ts=t, v=jnp.repeat(v, n), vnext=jnp.repeat(vnext, n)
            )
            return (vnext, syn), (v, s)

        ts = jnp.arange(steps) * DT_MS
        _, trace = jax.lax.scan(step, (jnp.zeros(n), syn), ts)
        return trace

    return run


def seed_programs(library: Any, kind: Any, n: int, steps: int) -> dict[str, tuple[Callable, tuple]]:
    run = seed_loop(library, kind, n, steps)
    weight, delays = workload(n)
    return {
        "forward": (lambda w: jnp.sum(run(w, delays)[1]), (weight,)),
        "jacfwd": (jax.jacfwd(lambda s: jnp.sum(run(weight, delays + s)[1])), (jnp.float32(0),)),
        "grad": (jax.grad(lambda w: jnp.sum(run(w, delays)[1])), (weight,)),
    }


def network_setup(
    n: int, steps: int, arrangement: str, kind: Any, history: int
) -> tuple[network.Network, network.NetworkParams, Drive]:
    weight, delays = workload(n)
    net = network.Network(
        n_neurons=n,
        recurrent=True,
        dt_ms=DT_MS,
        max_delay_ms=MAX_DELAY_MS,
        arrangement=arrangement,
        queue=kind,
        history=history,
        record_voltage=None,
    ).validate()
    params = network.NetworkParams(
        recurrent_weight=weight,
        recurrent_delay_ms=jnp.clip(delays, 0.0, MAX_DELAY_MS),
        tau_syn_ms=jnp.float32(TAU_SYN_MS),
        tau_mem_ms=jnp.float32(TAU_MEM_MS),
        vthres=jnp.float32(VTHRES),
    )
    drive = Drive(current=constant_current(steps, n, 1.0, DT_MS, stop_ms=CURRENT_UNTIL_MS))
    return net, params, drive


def network_programs(
    n: int, steps: int, arrangement: str, kind: Any, history: int
) -> dict[str, tuple[Callable, tuple]]:
    net, params, drive = network_setup(n, steps, arrangement, kind, history)

    def loss(p):
        result = network.simulate(net, p, drive)
        spike_times = jnp.sum(jnp.where(result.spikes, result.spike_ms, 0.0))
        return spike_times + 1e-3 * jnp.sum(result.voltage)

    def with_weight(w):
        return network.NetworkParams(
            recurrent_weight=w,
            recurrent_delay_ms=params.recurrent_delay_ms,
            tau_syn_ms=params.tau_syn_ms,
            tau_mem_ms=params.tau_mem_ms,
            vthres=params.vthres,
        )

    def shifted(s):
        return network.NetworkParams(
            recurrent_weight=params.recurrent_weight,
            recurrent_delay_ms=params.recurrent_delay_ms + s,
            tau_syn_ms=params.tau_syn_ms,
            tau_mem_ms=params.tau_mem_ms,
            vthres=params.vthres,
        )

    return {
        "forward": (
            lambda w: jnp.sum(network.simulate(net, with_weight(w), drive).spikes),
            (params.recurrent_weight,),
        ),
        "jacfwd": (jax.jacfwd(lambda s: loss(shifted(s))), (jnp.float32(0),)),
        "grad": (jax.grad(lambda w: loss(with_weight(w))), (params.recurrent_weight,)),
    }


def _memory_limit() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.6)
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def measure_program(fn: Callable, args: tuple, steps: int, repeats: int) -> dict[str, Any]:
    """Compile, check the memory estimate fits, time; ``{"us_per_step", "peak_mb", ...}``."""
    start = time.perf_counter()
    executable = measure.compiled(fn, *args)
    compile_s = time.perf_counter() - start
    peak = measure.peak_bytes(executable)
    row: dict[str, Any] = {"compile_s": round(compile_s, 2)}
    row["peak_mb"] = None if peak is None else peak / 2**20
    if peak is not None and peak > _memory_limit():
        row["error"] = f"skipped: needs {peak / 2**30:.1f} GiB"
        return row
    timing = measure.time_per_step(executable, args, steps, repeats)
    row["us_per_step"] = timing["median_us"]
    row["cpu_us_per_step"] = timing["cpu_median_us"]
    row["runs_us"] = timing["runs_us"]
    value = jax.tree_util.tree_leaves(executable(*args))[0]
    row["finite"] = bool(jnp.all(jnp.isfinite(value)))
    if jnp.ndim(value) == 0:
        row["value"] = float(value)
    return row


def peak_only(fn: Callable, args: tuple) -> float | None:
    peak = measure.peak_bytes(measure.compiled(fn, *args))
    return None if peak is None else peak / 2**20


def _seed_library(api: str) -> Any:
    if api == "adseq":
        import adseq

        return adseq
    import adseq_lab
    from adseq_lab import synapse  # noqa: F401  (the seed API, built separately)

    return adseq_lab


def _kind_for(api: str, name: str, capacity: int | None) -> Any:
    if api == "adseq":
        from adseq import implementations as original

        kind = getattr(original, queues.info(name).kind.__name__)  # same class names
        return kind.sized(capacity) if capacity is not None else kind
    return queues.get(name, capacity)


def rows_for(
    api: str,
    name: str,
    capacity: int | None,
    n: int,
    args: argparse.Namespace,
    arrangement: str = "per_synapse",
) -> list[dict[str, Any]]:
    label = f"history[{args.history}]" if arrangement == "per_neuron" else _label(name, capacity)
    base = {
        "api": api,
        "arrangement": arrangement if api == "network" else "seed",
        "kind": label,
        "n": n,
        "steps": args.steps,
    }
    try:
        kind = None if arrangement == "per_neuron" else _kind_for(api, name, capacity)
        if api == "network":

            def build(steps):
                return network_programs(n, steps, arrangement, kind, args.history)
        else:
            library = _seed_library(api)

            def build(steps):
                return seed_programs(library, kind, n, steps)

        programs = build(args.steps)
    except Exception as error:  # an API or kind that cannot run this workload: record why
        rows = [{**base, "mode": mode, "error": _short(error)} for mode in args.modes]
        for row in rows:
            print(_describe(row), flush=True)
        return rows
    rows = []
    for mode in args.modes:
        row = {**base, "mode": mode}
        try:
            row.update(measure_program(*programs[mode], args.steps, args.repeats))
            if mode == "forward" and "value" in row:
                row["spikes"] = int(row["value"])
            if mode == "grad" and args.memory_steps:
                row[f"grad_peak_mb_at_{args.memory_steps}"] = peak_only(
                    *build(args.memory_steps)["grad"]
                )
        except Exception as error:
            row["error"] = _short(error)
        rows.append(row)
        print(_describe(row), flush=True)
    return rows


def _short(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:200]


def _describe(row: dict[str, Any]) -> str:
    head = f"{row['api']:>8} {row['arrangement']:>11} {row['kind']:>16} n={row['n']:<5} "
    head += f"{row['mode']:>7} "
    if "us_per_step" not in row:
        return head + row.get("error", "")
    text = head + f"{row['us_per_step']:9.1f} us/step (CPU {row['cpu_us_per_step']:9.1f})"
    text += f"  peak {row.get('peak_mb') or 0:8.1f} MB"
    at = [key for key in row if key.startswith("grad_peak_mb_at_")]
    if at:
        text += f"  ({at[0][len('grad_peak_mb_at_') :]} steps: {row[at[0]] or 0:.1f} MB)"
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100", help="comma-separated n (e.g. 100,300,1000)")
    parser.add_argument(
        "--queues",
        default=SEED_KINDS,
        help="comma-separated registry names, capacity after a colon (fifo_ring:4)",
    )
    parser.add_argument(
        "--apis",
        default="adseq,seed,network",
        help="which implementations: adseq (0.9.4), seed (adseq_lab seed API), network",
    )
    parser.add_argument("--modes", default=",".join(MODES), help="forward,jacfwd,grad")
    parser.add_argument("--steps", type=int, default=2000, help="time steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per point")
    parser.add_argument("--history", type=int, default=4, help="per_neuron spikes per neuron")
    parser.add_argument(
        "--memory-steps",
        type=int,
        default=10000,
        help="steps of the compile-only reverse-mode memory estimate (0: skip)",
    )
    parser.add_argument("--no-adseq", action="store_true", help="skip adseq 0.9.4")
    parser.add_argument(
        "--xla-defaults",
        action="store_true",
        help=f"keep XLA's default CPU fusions (default: add {xla_options.CPU_XLA_FLAG})",
    )
    parser.add_argument("--out", default=str(measure.DEFAULT_DIR / "rsnn.json"))


def use_fast_cpu_flags() -> str:
    """Add :data:`~adseq_lab.xla_options.CPU_XLA_FLAG` to ``XLA_FLAGS`` (before JAX starts its
    backend; afterwards a warning says it cannot apply). Returns the flags in force."""
    from jax._src import xla_bridge

    flags = os.environ.get("XLA_FLAGS", "")
    if "ynn_fusion_type" not in flags:
        if xla_bridge.backends_are_initialized():
            print("warning: JAX already started; XLA_FLAGS unchanged", flush=True)
            return flags
        flags = f"{flags} {xla_options.CPU_XLA_FLAG}".strip()
        os.environ["XLA_FLAGS"] = flags
    return flags


def run(args: argparse.Namespace) -> int:
    xla_flags = os.environ.get("XLA_FLAGS", "") if args.xla_defaults else use_fast_cpu_flags()
    print(f"XLA_FLAGS={xla_flags!r}", flush=True)
    args.modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        raise SystemExit(f"unknown modes {unknown}; choose from {', '.join(MODES)}")
    kinds = [_parse_kind(spec) for spec in args.queues.split(",") if spec]
    apis = [a for a in args.apis.split(",") if a]
    if "adseq" in apis and (args.no_adseq or not measure.adseq_available()):
        apis.remove("adseq")
    rows: list[dict[str, Any]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        for name, capacity in kinds:
            for api in apis:
                rows += rows_for(api, name, capacity, n, args)
        if "network" in apis:
            rows += rows_for("network", "", None, n, args, arrangement="per_neuron")
    summary = summarise(rows, args.memory_steps)
    print()
    measure.print_table(
        summary,
        [
            "n",
            "kind",
            "mode",
            "adseq_us",
            "adseq_cpu",
            "seed_us",
            "seed_cpu",
            "seed_x",
            "seed_cpu_x",
            "network_us",
            "network_cpu",
            "network_x",
            "network_cpu_x",
            "lean_us",
            "lean_cpu",
            "lean_x",
            "lean_cpu_x",
            "adseq_mb",
            "seed_mb",
            "network_mb",
            "lean_mb",
        ],
    )
    path = measure.write_json(
        args.out,
        {
            "workload": "rsnn",
            "dt_ms": DT_MS,
            "steps": args.steps,
            "memory_steps": args.memory_steps,
            "load_average": os.getloadavg(),
            "xla_flags": xla_flags,
            "results": rows,
            "summary": summary,
        },
    )
    print(f"\nwrote {path}")
    return 0


def summarise(rows: list[dict[str, Any]], memory_steps: int) -> list[dict[str, Any]]:
    """One line per (n, kind, mode): us/step per API, wall (``*_us``) and CPU (``*_cpu``),
    speed-ups over adseq 0.9.4 (``*_x``, ``*_cpu_x``; ``lean`` is the per_neuron arrangement,
    compared with adseq's same kind) and, on grad lines, the reverse-mode peak estimate at
    ``memory_steps`` steps (``*_mb``)."""
    lean = {(r["n"], r["mode"]): r for r in rows if r["arrangement"] == "per_neuron"}
    table: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        if row["arrangement"] == "per_neuron":
            continue
        key = (row["n"], row["kind"], row["mode"])
        entry = table.setdefault(key, {"n": row["n"], "kind": row["kind"], "mode": row["mode"]})
        entry[f"{row['api']}_us"] = row.get("us_per_step")
        entry[f"{row['api']}_cpu"] = row.get("cpu_us_per_step")
        if row["mode"] == "grad":
            entry[f"{row['api']}_mb"] = row.get(f"grad_peak_mb_at_{memory_steps}")
    for (n, _, mode), entry in table.items():
        entry["lean_us"] = lean.get((n, mode), {}).get("us_per_step")
        entry["lean_cpu"] = lean.get((n, mode), {}).get("cpu_us_per_step")
        for api in ("seed", "network", "lean"):
            for unit, suffix in (("us", "x"), ("cpu", "cpu_x")):
                reference, ours = entry.get(f"adseq_{unit}"), entry.get(f"{api}_{unit}")
                entry[f"{api}_{suffix}"] = reference / ours if reference and ours else None
    return list(table.values()) + [
        {
            "n": r["n"],
            "kind": r["kind"],
            "mode": r["mode"],
            "lean_us": r.get("us_per_step"),
            "lean_cpu": r.get("cpu_us_per_step"),
            "lean_mb": r.get(f"grad_peak_mb_at_{memory_steps}"),
        }
        for r in lean.values()
    ]
