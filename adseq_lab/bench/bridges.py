"""Bridges: time per training step, forward mode (``jax.jacfwd``) against reverse (``jax.grad``).

- ``jaxley``: the seed's Jaxley example: two single-compartment Hodgkin-Huxley cells joined by a
  :class:`~adseq_lab.bridges.jaxley_bridge.DelaySynapse` (threshold 10 mV, delay 10 ms, weight
  0.05 nA), ``--jaxley-ms`` (20) ms at dt 0.025 ms, the Gaussian-weighted voltage loss that moves
  the postsynaptic spike towards 70 % of the simulation, the delay trainable through
  ``SigmoidTransform(0.1, 50)``. A training step is loss + gradient + an Adam update; per queue
  kind (FIFORing[4], SingleSpike).
- ``flax``: a Yin-Yang-sized model, 4 inputs -> ``--hidden`` (30) LIF -> 3 LIF (TTFS output),
  ``--flax-steps`` (150) steps at dt 0.1 ms, ``--batch`` samples per step (default 1; more go
  through ``jax.vmap``); inputs ``(x, y, 1 - x, 1 - y)`` of uniform random points, one spike
  each within the first 5 ms (seeded; timing only). Loss: cross-entropy of the negative
  first-spike times (silent outputs count as firing at the end). A training step is loss +
  gradient of all ``2 (4 h + 3 h)`` weights and delays + an Adam update. Rows: ``seed`` (the
  seed README's layers: SingleSpike input queue, FIFORing[4] hidden queue, SuperSpike resets)
  through adseq-lab and, if installed, adseq 0.9.4; ``exact`` (adseq-lab's default exact
  resets).

``ms_step`` is the median wall time of one training step (compiled; compile time reported
apart), ``us_sim_step`` the same per simulated time step. adseq 0.9.4's Jaxley bridge turns on
float64 for the whole process when imported, so only its Flax bridge is compared here. Every
program is compiled with the same XLA flags, by default with
:data:`adseq_lab.xla_options.CPU_XLA_FLAG` (as ``bench rsnn``; ``--xla-defaults`` keeps XLA's).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import measure
from .rsnn import use_fast_cpu_flags

MODES = ("jacfwd", "grad")
JAXLEY_DT_MS = 0.025
FLAX_DT_MS = 0.1
INPUT_WINDOW_MS = 5.0


def _train_step(loss: Callable, mode: str, optimizer: optax.GradientTransformation) -> Callable:
    derivative = jax.jacfwd(loss) if mode == "jacfwd" else jax.grad(loss)

    def step(params, opt_state, *data):
        value, gradient = loss(params, *data), derivative(params, *data)
        updates, opt_state = optimizer.update(gradient, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step


def _time(step: Callable, args: tuple, sim_steps: int, repeats: int) -> dict[str, Any]:
    start = time.perf_counter()
    executable = measure.compiled(step, *args)
    row: dict[str, Any] = {"compile_s": round(time.perf_counter() - start, 2)}
    timing = measure.time_per_step(executable, args, 1, repeats)
    row["ms_step"] = timing["median_us"] / 1e3
    row["us_sim_step"] = timing["median_us"] / sim_steps
    row["runs_ms"] = [us / 1e3 for us in timing["runs_us"]]
    value = executable(*args)[2]
    row["loss"] = float(value)
    return row


# --- Jaxley -----------------------------------------------------------------------------------


def jaxley_setup(queue: Any, t_max_ms: float) -> tuple[Callable, Any]:
    """``(loss(raw_params), raw_params)`` of the seed's Jaxley example with ``queue``."""
    import jaxley as jx
    from jaxley.channels import HH

    from ..bridges.jaxley_bridge import DelaySynapse

    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=1), parents=[-1])
    cell.insert(HH())
    net = jx.Network([cell, cell])
    jx.connect(
        net.cell(0).branch(0).loc(0.0),
        net.cell(1).branch(0).loc(0.0),
        DelaySynapse(vthres=10.0, queue=queue),
    )
    net.set("DelaySynapse_delay", 10.0)
    net.set("DelaySynapse_weight", 0.05)
    net.make_trainable("DelaySynapse_delay", verbose=False)
    net.set("v", -65.0)
    net.init_states(delta_t=JAXLEY_DT_MS)
    stimulus = jx.step_current(
        i_delay=1.0, i_dur=1.0, i_amp=0.05, delta_t=JAXLEY_DT_MS, t_max=t_max_ms
    )
    net.cell(0).branch(0).comp(0).stimulate(stimulus, verbose=False)
    for index in (0, 1):
        net.cell(index).branch(0).comp(0).record("v", verbose=False)
    transform = jx.ParamTransform(
        [{"DelaySynapse_delay": jx.optimize.transforms.SigmoidTransform(0.1, 50.0)}]
    )

    def loss(opt_params):
        s = jx.integrate(net, delta_t=JAXLEY_DT_MS, params=transform.forward(opt_params))
        t = jnp.linspace(0, 1, s.shape[1])
        return -(s[1] * jnp.exp(-10 * (t - 0.7) ** 2)).mean()

    return loss, transform.inverse(net.get_parameters())


def jaxley_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ..implementations import FIFORing, SingleSpike

    rows = []
    sim_steps = round(args.jaxley_ms / JAXLEY_DT_MS)
    for queue in (FIFORing.sized(4), SingleSpike):
        loss, params = jaxley_setup(queue, args.jaxley_ms)
        optimizer = optax.adam(0.05)
        for mode in args.modes:
            row = {"part": "jaxley", "api": "adseq_lab", "config": queue.__name__, "mode": mode}
            row["sim_steps"] = sim_steps
            step = _train_step(loss, mode, optimizer)
            try:
                row.update(_time(step, (params, optimizer.init(params)), sim_steps, args.repeats))
            except Exception as error:  # record, keep measuring the others
                row["error"] = _short(error)
            rows.append(row)
            print(_describe(row), flush=True)
    return rows


# --- Flax ---------------------------------------------------------------------------------------


def flax_inputs(batch: int, steps: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    """``(spikes (batch, steps, 4), labels (batch,))``: features ``(x, y, 1 - x, 1 - y)`` of
    uniform points, each a spike at ``feature * 5 ms``; labels uniform in {0, 1, 2}."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(size=(batch, 2))
    features = np.concatenate([points, 1 - points], axis=1)
    spike_steps = np.round(features * INPUT_WINDOW_MS / FLAX_DT_MS).astype(int)
    spikes = np.zeros((batch, steps, 4), np.float32)
    spikes[np.arange(batch)[:, None], spike_steps, np.arange(4)[None, :]] = 1.0
    return jnp.asarray(spikes), jnp.asarray(rng.integers(0, 3, batch), jnp.int32)


def flax_model(library: Any, hidden: int, reset_gradient: str | None) -> Any:
    """The seed README's layers (``library`` is adseq-lab's or adseq 0.9.4's bridge module)."""
    reset = {} if reset_gradient is None else {"reset_gradient": reset_gradient}
    queues = library.implementations
    return library.Sequential(
        [
            library.DenseInput(FLAX_DT_MS, hidden, queue=queues.SingleSpike),
            library.LIF(FLAX_DT_MS, output="single_spike", **reset),
            library.Dense(FLAX_DT_MS, 3, queue=queues.FIFORing.sized(4)),
            library.LIF(FLAX_DT_MS, output="ttfs", **reset),
        ]
    )


def flax_loss(model: Any, t_max_ms: float, batched: bool) -> Callable:
    """Cross-entropy of ``-ttfs``; ``batched``: over ``jax.vmap`` of the samples."""

    def sample_ttfs(params, x):
        return model.apply(params, x, method="trace")[-1]

    def loss(params, xs, labels):
        if batched:
            ttfs = jax.vmap(sample_ttfs, (None, 0))(params, xs)
        else:
            ttfs = sample_ttfs(params, xs[0])[None]
        ttfs = jnp.where(ttfs < 0, t_max_ms, ttfs)
        return optax.softmax_cross_entropy_with_integer_labels(-ttfs, labels).mean()

    return loss


def flax_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ..bridges import flax_bridge

    libraries: list[tuple[str, Any, str | None]] = [
        ("adseq_lab", flax_bridge, "surrogate"),
        ("adseq_lab", flax_bridge, "exact"),
    ]
    if not args.no_adseq and measure.adseq_available():
        import adseq.bridges.flax_bridge as original

        libraries.insert(1, ("adseq", original, None))
    xs, labels = flax_inputs(args.batch, args.flax_steps)
    rows = []
    for api, library, reset in libraries:
        model = flax_model(library, args.hidden, reset)
        params = model.init(jax.random.key(0), None, xs[0, 0])
        loss = flax_loss(model, args.flax_steps * FLAX_DT_MS, batched=args.batch > 1)
        optimizer = optax.adam(1e-2)
        config = "seed" if reset != "exact" else "exact"
        for mode in args.modes:
            row = {"part": "flax", "api": api, "config": config, "mode": mode}
            row["sim_steps"] = args.flax_steps
            row["params"] = sum(int(np.size(p)) for p in jax.tree.leaves(params))
            step = _train_step(loss, mode, optimizer)
            try:
                row.update(
                    _time(
                        step,
                        (params, optimizer.init(params), xs, labels),
                        args.flax_steps,
                        args.repeats,
                    )
                )
            except Exception as error:  # adseq 0.9.4's reverse mode fails for SingleSpike
                row["error"] = _short(error)
            rows.append(row)
            print(_describe(row), flush=True)
    return rows


def _short(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:200]


def _describe(row: dict[str, Any]) -> str:
    head = f"{row['part']:>6} {row['api']:>9} {row['config']:>12} {row['mode']:>6} "
    if "ms_step" in row:
        return head + f"{row['ms_step']:9.2f} ms/step  compile {row['compile_s']:6.1f} s"
    return head + row.get("error", "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parts", default="jaxley,flax", help="jaxley,flax")
    parser.add_argument("--modes", default=",".join(MODES), help="jacfwd,grad")
    parser.add_argument("--jaxley-ms", type=float, default=20.0, help="simulated ms (jaxley)")
    parser.add_argument("--flax-steps", type=int, default=150, help="time steps (flax)")
    parser.add_argument(
        "--batch", type=int, default=1, help="samples per step (flax; > 1: jax.vmap)"
    )
    parser.add_argument("--hidden", type=int, default=30, help="hidden neurons (flax)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per point")
    parser.add_argument("--no-adseq", action="store_true", help="skip adseq 0.9.4")
    parser.add_argument(
        "--xla-defaults", action="store_true", help="keep XLA's default CPU fusions"
    )
    parser.add_argument("--out", default=str(measure.DEFAULT_DIR / "bridges.json"))


def run(args: argparse.Namespace) -> int:
    xla_flags = os.environ.get("XLA_FLAGS", "") if args.xla_defaults else use_fast_cpu_flags()
    print(f"XLA_FLAGS={xla_flags!r}", flush=True)
    args.modes = [m for m in args.modes.split(",") if m]
    parts = [p for p in args.parts.split(",") if p]
    unknown = [m for m in args.modes if m not in MODES] + [
        p for p in parts if p not in ("jaxley", "flax")
    ]
    if unknown:
        raise SystemExit(
            f"unknown modes or parts {unknown}; modes: jacfwd, grad; parts: jaxley, flax"
        )
    rows: list[dict[str, Any]] = []
    if "jaxley" in parts:
        rows += jaxley_rows(args)
    if "flax" in parts:
        rows += flax_rows(args)
    print()
    measure.print_table(
        rows,
        ["part", "api", "config", "mode", "sim_steps", "ms_step", "us_sim_step", "compile_s"],
    )
    path = measure.write_json(
        args.out,
        {
            "workload": "bridges",
            "jaxley_dt_ms": JAXLEY_DT_MS,
            "flax_dt_ms": FLAX_DT_MS,
            "batch": args.batch,
            "hidden": args.hidden,
            "load_average": os.getloadavg(),
            "xla_flags": xla_flags,
            "results": rows,
        },
    )
    print(f"\nwrote {path}")
    return 0
