"""Agreement with Brian2: a layer of LIF neurons with heterogeneous per-synapse delays on the time
grid, driven by fixed input spike times, spikes at the same times (within one step) in adseq-lab
and in Brian2 (tests/brian2_reference.py documents the mirrored update order).

Brian2 needs an older numpy than our environment, so it runs in its own interpreter:
``$ADSEQ_BRIAN2_PYTHON``, else ``.venv-brian2/bin/python`` in the repository, else
``/work/brian2-venv/bin/python``; the test skips when none can import brian2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from adseq_lab import inputs, network, queues

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "brian2_reference.py"
CANDIDATES = (
    os.environ.get("ADSEQ_BRIAN2_PYTHON"),
    str(HERE.parent / ".venv-brian2" / "bin" / "python"),
    "/work/brian2-venv/bin/python",
)
DT = 0.1
STEPS = 600
N_IN, N_OUT = 20, 10


@pytest.fixture(scope="module")
def brian2_python() -> str:
    for candidate in CANDIDATES:
        if candidate and os.access(candidate, os.X_OK):
            probe = subprocess.run(
                [candidate, "-c", "import brian2"], capture_output=True, timeout=120
            )
            if probe.returncode == 0:
                return candidate
    pytest.skip("no Brian2 interpreter (set ADSEQ_BRIAN2_PYTHON to a python with brian2)")


def problem(seed: int, recurrent: bool) -> dict:
    rng = np.random.default_rng(seed)
    times = [
        sorted(rng.choice(np.arange(0, 450), size=rng.integers(3, 8), replace=False) * DT)
        for _ in range(N_IN)
    ]
    weight = rng.uniform(0.05, 0.25, (N_IN, N_OUT)) * (rng.random((N_IN, N_OUT)) < 0.7)
    spec = {
        "dt_ms": DT,
        "steps": STEPS,
        "tau_mem_ms": 10.0,
        "tau_syn_ms": 2.0,
        "vthres": 1.0,
        "n_neurons": N_OUT,
        "n_inputs": N_IN,
        "input_times": [[float(t) for t in ts] for ts in times],
        "input_indices": [i for i, ts in enumerate(times) for _ in ts],
        "input_times_ms": [float(t) for ts in times for t in ts],
        "input_weight": weight.tolist(),
        "input_delay_ms": (rng.integers(0, 41, (N_IN, N_OUT)) * DT).tolist(),
    }
    if recurrent:
        mask = (rng.random((N_OUT, N_OUT)) < 0.3) & ~np.eye(N_OUT, dtype=bool)
        spec["recurrent_weight"] = (rng.uniform(0.05, 0.3, (N_OUT, N_OUT)) * mask).tolist()
        spec["recurrent_delay_ms"] = (rng.integers(5, 31, (N_OUT, N_OUT)) * DT).tolist()
    return spec


def run_brian2(python: str, spec: dict) -> dict:
    completed = subprocess.run(
        [python, str(SCRIPT)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if completed.returncode:
        sys.stderr.write(completed.stderr)
    completed.check_returncode()
    return json.loads(completed.stdout)


def run_ours(spec: dict, arrangement: str) -> dict:
    recurrent = "recurrent_weight" in spec
    weight = np.asarray(spec["input_weight"], np.float32)
    params = network.NetworkParams(
        input_weight=weight,
        input_delay_ms=np.asarray(spec["input_delay_ms"], np.float32),
        recurrent_weight=np.asarray(spec["recurrent_weight"], np.float32) if recurrent else None,
        recurrent_delay_ms=(
            np.asarray(spec["recurrent_delay_ms"], np.float32) if recurrent else None
        ),
        tau_syn_ms=np.float32(spec["tau_syn_ms"]),
        tau_mem_ms=np.float32(spec["tau_mem_ms"]),
        vthres=np.float32(spec["vthres"]),
    )
    net = network.Network(
        n_neurons=N_OUT,
        n_inputs=N_IN,
        recurrent=recurrent,
        dt_ms=DT,
        max_delay_ms=4.0,
        arrangement=arrangement,
        queue=None if arrangement == "per_neuron" else queues.get("sorted_array", 8),
        history=32,
        input_mask=weight != 0,
        recurrent_mask=(np.asarray(spec["recurrent_weight"]) != 0 if recurrent else None),
    )
    drive = inputs.Drive(spikes_ms=inputs.spikes_from_times(spec["input_times"], STEPS, DT))
    result = jax.jit(network.simulate)(net, params, drive)
    assert int(result.dropped.sum()) == 0
    neurons, times = result.spike_times()
    return {"indices": neurons.tolist(), "times_ms": times.tolist()}


def per_neuron(output: dict) -> list[np.ndarray]:
    indices, times = np.asarray(output["indices"]), np.asarray(output["times_ms"])
    return [np.sort(times[indices == j]) for j in range(N_OUT)]


def assert_same_spikes(ours: dict, theirs: dict) -> int:
    """Same number of spikes per neuron, each within one step; returns the exact matches."""
    exact = 0
    for j, (a, b) in enumerate(zip(per_neuron(ours), per_neuron(theirs), strict=True)):
        assert len(a) == len(b), f"neuron {j}: {a} (adseq-lab) vs {b} (Brian2)"
        np.testing.assert_allclose(a, b, atol=DT * 1.001, err_msg=f"neuron {j}")
        exact += int(np.sum(np.abs(a - b) < DT / 2))
    return exact


@pytest.mark.parametrize("seed", [0, 1])
def test_feedforward_layer_agrees_with_brian2(brian2_python, seed):
    spec = problem(seed, recurrent=False)
    theirs = run_brian2(brian2_python, spec)
    assert len(theirs["times_ms"]) >= 15, "the layer should fire"
    for arrangement in ("per_neuron", "per_synapse"):
        ours = run_ours(spec, arrangement)
        exact = assert_same_spikes(ours, theirs)
        assert exact >= 0.9 * len(theirs["times_ms"])


def test_recurrent_network_agrees_with_brian2(brian2_python):
    spec = problem(7, recurrent=True)
    theirs = run_brian2(brian2_python, spec)
    assert len(theirs["times_ms"]) >= 15
    ours = run_ours(spec, "per_neuron")
    exact = assert_same_spikes(ours, theirs)
    assert exact >= 0.9 * len(theirs["times_ms"])
