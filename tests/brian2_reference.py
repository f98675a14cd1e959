"""Brian2 reference run for the agreement test (tests/test_network_brian2.py).

Runs in Brian2's own environment (``$ADSEQ_BRIAN2_PYTHON``), reads a JSON problem on stdin and
writes the output spikes as JSON on stdout. It mirrors adseq-lab's update order
(:mod:`adseq_lab.network`) with Brian2's default schedule (groups, thresholds, synapses,
resets) and numpy code generation:

- state update (``euler``, which evaluates both right-hand sides at the old state):
  ``dv/dt = (v (decay - 1) + dt I) / dt`` gives ``v <- exp(-dt/tau_mem) v + dt I`` and
  ``dI/dt = I (alpha - 1) / dt`` gives ``I <- exp(-dt/tau_syn) I``: the Euler/exponential step
  of :func:`adseq_lab.neurons.lif_step` with the synaptic current held at the start of the step;
- threshold ``v >= vthres`` after the update: a spike at the step's start time ``t_k``, our
  crossing ``v_k < vthres <= v_{k+1}``;
- reset ``v = 0`` with a refractory period of two steps (``v`` frozen at 0 for the next step):
  adseq-lab keeps ``v_{k+1}`` and resets during step ``k + 1`` (``v_{k+2} = 0``), so both
  integrate again from 0 in step ``k + 2``;
- synapses ``on_pre: I_post += w`` with per-synapse delays, which Brian2 rounds to whole steps
  (``round(delay / dt)``, half to even, like adseq-lab) and delivers in the ``synapses`` slot of
  step ``k + d``, after that step's update: the current jumps at the end of step ``k + d``;
- inputs: a ``SpikeGeneratorGroup`` firing in the step of each given time.

Problem keys: ``dt_ms``, ``steps``, ``tau_mem_ms``, ``tau_syn_ms``, ``vthres``, ``n_neurons``,
``n_inputs``, ``input_indices``, ``input_times_ms``, ``input_weight`` and ``input_delay_ms``
(``n_inputs x n_neurons``), optionally ``recurrent_weight`` and ``recurrent_delay_ms``
(``n x n``). Output: ``{"indices": [...], "times_ms": [...], "brian2": version}``.
"""

from __future__ import annotations

import json
import math
import sys


def run(problem: dict) -> dict:
    import brian2 as b2
    import numpy as np

    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    dt_ms = float(problem["dt_ms"])
    b2.defaultclock.dt = dt_ms * b2.ms
    namespace = {
        "decay": math.exp(-dt_ms / problem["tau_mem_ms"]),
        "alpha": math.exp(-dt_ms / problem["tau_syn_ms"]),
        "dt_step": dt_ms,
        "step": dt_ms * b2.ms,
        "vthres": float(problem["vthres"]),
    }
    equations = """
    dv/dt = (v * (decay - 1) + dt_step * I) / step : 1 (unless refractory)
    dI/dt = I * (alpha - 1) / step : 1
    """
    neurons = b2.NeuronGroup(
        problem["n_neurons"],
        equations,
        threshold="v >= vthres",
        reset="v = 0",
        refractory=2 * dt_ms * b2.ms,
        method="euler",
        namespace=namespace,
    )
    generator = b2.SpikeGeneratorGroup(
        problem["n_inputs"],
        np.asarray(problem["input_indices"], int),
        np.asarray(problem["input_times_ms"], float) * b2.ms,
    )
    projections = [(generator, "input")]
    if problem.get("recurrent_weight") is not None:
        projections.append((neurons, "recurrent"))
    synapse_groups = []
    for source, part in projections:
        weight = np.asarray(problem[f"{part}_weight"], float)
        delay = np.asarray(problem[f"{part}_delay_ms"], float)
        pre, post = np.nonzero(weight != 0)
        synapses = b2.Synapses(source, neurons, model="w : 1", on_pre="I_post += w")
        synapses.connect(i=pre, j=post)
        synapses.w = weight[pre, post]
        synapses.delay = delay[pre, post] * b2.ms
        synapse_groups.append(synapses)
    monitor = b2.SpikeMonitor(neurons)
    network = b2.Network(neurons, generator, monitor, *synapse_groups)
    network.run(problem["steps"] * dt_ms * b2.ms)
    return {
        "indices": [int(i) for i in monitor.i[:]],
        "times_ms": [float(t / b2.ms) for t in monitor.t[:]],
        "brian2": b2.__version__,
    }


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
