"""Network explorer: a random recurrent LIF network with delayed synapses, simulated and plotted.

The network, its parameters and the simulation are :func:`adseq_lab.network.build_network` and
:func:`adseq_lab.network.simulate`. A long run is split into equal chunks, each continuing from
the previous chunk's final state (``simulate(..., state=...)``), so the page shows progress and
Stop takes effect between chunks; the chunks give the same result as one call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import panel as pn
import param

from .. import network, plotting, queues
from ..bench import measure
from ..inputs import Drive, constant_current
from .common import Messages, on_session_end

__all__ = ["NetworkExplorer", "NetworkRun", "parse_neurons"]

CHUNKS = 10
PLOT_WIDTH = 540
MAX_TRACES = 8


def parse_neurons(text: str, n_neurons: int) -> tuple[int, ...]:
    """Neuron indices from text like ``"0, 3, 7"`` (integers only; nothing is evaluated)."""
    tokens = [t for t in re.split(r"[\s,;]+", text.strip()) if t]
    if not tokens:
        raise ValueError("traced neurons: give at least one index, e.g. 0, 1, 2")
    if len(tokens) > MAX_TRACES or not all(re.fullmatch(r"\d+", t) for t in tokens):
        raise ValueError(
            f"traced neurons: up to {MAX_TRACES} indices in [0, {n_neurons - 1}], comma separated"
        )
    indices = tuple(dict.fromkeys(int(t) for t in tokens))
    if max(indices) >= n_neurons:
        raise ValueError(f"traced neurons: indices must lie in [0, {n_neurons - 1}]")
    return indices


@dataclasses.dataclass(frozen=True)
class NetworkRun:
    """A finished (or stopped) run, as numpy: ``T`` steps simulated so far.

    ``spike_neuron``/``spike_ms``: every spike; ``t_ms`` ``(T,)``; ``voltage`` ``(T, traced)``;
    ``pending`` ``(T,)`` events in flight; ``dropped`` ``(T,)`` events lost per step;
    ``us_per_step`` (execution only), ``compile_s``, ``peak_bytes`` (XLA's estimate per chunk).
    """

    n_neurons: int
    duration_ms: float
    traced: tuple[int, ...]
    queue_name: str
    t_ms: np.ndarray
    spike_neuron: np.ndarray
    spike_ms: np.ndarray
    voltage: np.ndarray
    pending: np.ndarray
    dropped: np.ndarray
    us_per_step: float
    compile_s: float
    peak_bytes: int | None

    @property
    def steps(self) -> int:
        return len(self.t_ms)

    @property
    def mean_rate_hz(self) -> float:
        simulated_ms = self.steps * (self.t_ms[1] - self.t_ms[0] if self.steps > 1 else 0.0)
        if simulated_ms <= 0:
            return 0.0
        return len(self.spike_ms) / self.n_neurons / (simulated_ms * 1e-3)


class NetworkExplorer(pn.viewable.Viewer):
    """Build a network from the controls, simulate it, and show its activity and cost."""

    queue = param.Selector(default="fifo_ring", objects=queues.names(), doc="Queue kind")
    capacity = param.Integer(default=4, bounds=(0, 64), doc="Capacity k (kinds with one)")
    arrangement = param.Selector(
        default="per_synapse",
        objects=list(network.ARRANGEMENTS),
        doc="One queue per synapse, or the recent spikes per neuron (memory-lean)",
    )
    history = param.Integer(default=4, bounds=(1, 64), doc="per_neuron: spikes kept per neuron")
    n_neurons = param.Integer(default=100, bounds=(10, 2000), doc="Neurons")
    connection_prob = param.Number(default=0.2, bounds=(0.0, 1.0), doc="Connection probability")
    weight_scale = param.Number(
        default=1.5, bounds=(0.0, 50.0), doc="g: weights g/√n · draw (distribution below)"
    )
    weight_dist = param.Selector(
        default="normal", objects=["normal", "normal_squared", "uniform", "constant"]
    )
    delay_ms = param.Number(default=4.0, bounds=(0.0, 100.0), doc="Mean delay (ms)")
    delay_spread_ms = param.Number(
        default=0.5, bounds=(0.0, 50.0), doc="Delay spread (ms, standard deviation); 0: fixed"
    )
    max_delay_ms = param.Number(default=7.0, bounds=(0.0, 100.0), doc="Maximum delay (ms)")
    dt_ms = param.Number(default=0.1, bounds=(0.005, 1.0), doc="Time step (ms)")
    duration_ms = param.Number(default=100.0, bounds=(1.0, 5000.0), doc="Duration (ms)")
    drive_current = param.Number(
        default=0.12, bounds=(-20.0, 20.0), doc="Injected current (voltage per ms)"
    )
    drive_until_ms = param.Number(default=100.0, bounds=(0.0, 5000.0), doc="Drive stops at (ms)")
    traced = param.String(default="0, 1, 2", doc="Neurons whose voltage is traced")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Random seed of the network")
    done = param.Integer(default=0, doc="Chunks simulated")
    total = param.Integer(default=CHUNKS, doc="Chunks in the run")
    running = param.Boolean(default=False)

    def __init__(self, **params):
        super().__init__(**params)
        self.messages = Messages()
        self.run: NetworkRun | None = None
        self._stop_requested = False
        self._raster = pn.pane.HoloViews(sizing_mode="fixed")
        self._traces = pn.pane.HoloViews(sizing_mode="fixed")
        self._rate = pn.pane.HoloViews(sizing_mode="fixed")
        self._queues = pn.pane.HoloViews(sizing_mode="fixed")
        self._status = pn.pane.Markdown("No run yet: press **Run**.", css_classes=["run-status"])
        self._layout = self._build()
        on_session_end(self.stop)

    # ---- the model, from the controls -------------------------------------------------------
    def build(self):
        """``(net, params, drive, traced)`` for the controls; ``ValueError`` if invalid."""
        traced = parse_neurons(self.traced, self.n_neurons)
        entry = queues.info(self.queue)
        net, params = network.build_network(
            jax.random.key(self.seed),
            self.n_neurons,
            connection_prob=self.connection_prob,
            weight_scale=self.weight_scale / math.sqrt(self.n_neurons),
            weight_dist=self.weight_dist,
            delay_ms=self.delay_ms,
            delay_spread_ms=self.delay_spread_ms,
            max_delay_ms=self.max_delay_ms,
            dt_ms=self.dt_ms,
            arrangement=self.arrangement,
            queue=self.queue,
            capacity=self.capacity if entry.has_capacity else None,
            history=self.history,
            record_voltage=traced,
            checkpoint=None,
        )
        steps = max(1, round(self.duration_ms / self.dt_ms))
        current = constant_current(
            steps, self.n_neurons, self.drive_current, self.dt_ms, stop_ms=self.drive_until_ms
        )
        return net, params, Drive(current=current), traced

    # ---- running ----------------------------------------------------------------------------
    def _prepare(self):
        net, params, drive, traced = self.build()
        steps = drive.steps
        chunk = math.ceil(steps / CHUNKS)
        padded = (
            jnp.zeros((chunk * CHUNKS, self.n_neurons), jnp.float32).at[:steps].set(drive.current)
        )
        state = network.init_state(net, params)
        first = Drive(current=padded[:chunk])
        start = time.perf_counter()
        executable = measure.compiled(_simulate_chunk, net, params, first, state)
        compile_s = time.perf_counter() - start
        return net, params, padded, chunk, steps, state, traced, executable, compile_s

    def _chunk(self, executable, net, params, padded, chunk, index, state):
        start = time.perf_counter()
        result = executable(
            net, params, Drive(current=padded[index * chunk : (index + 1) * chunk]), state
        )
        jax.block_until_ready(result)
        return result, time.perf_counter() - start

    def _collect(self, net, parts, seconds, steps, traced, compile_s, executable) -> NetworkRun:
        """The chunks so far, trimmed to the requested steps, as a :class:`NetworkRun`."""
        spikes = np.concatenate([np.asarray(p.spikes) for p in parts])[:steps]
        spike_ms = np.concatenate([np.asarray(p.spike_ms) for p in parts])[:steps]
        rows, neurons = np.nonzero(spikes)
        simulated = len(spikes)
        return NetworkRun(
            n_neurons=net.n_neurons,
            duration_ms=steps * net.dt_ms,
            traced=traced,
            queue_name=_queue_name(net),
            t_ms=np.arange(simulated, dtype=np.float32) * np.float32(net.dt_ms),
            spike_neuron=neurons,
            spike_ms=spike_ms[rows, neurons],
            voltage=np.concatenate([np.asarray(p.voltage) for p in parts])[:steps],
            pending=np.concatenate([np.asarray(p.pending) for p in parts])[:steps],
            dropped=np.concatenate([np.asarray(p.dropped) for p in parts])[:steps],
            us_per_step=sum(seconds) / (len(parts) * len(parts[0].spikes)) * 1e6,
            compile_s=compile_s,
            peak_bytes=measure.peak_bytes(executable),
        )

    def run_now(self) -> bool:
        """Simulate synchronously (notebooks, tests); False (message shown) if refused."""
        self.messages.clear()
        ok, prepared = self.messages.guarded(self._prepare)
        if not ok:
            return False
        net, params, padded, chunk, steps, state, traced, executable, compile_s = prepared
        parts, seconds = [], []
        for index in range(CHUNKS):
            result, elapsed = self._chunk(executable, net, params, padded, chunk, index, state)
            state = result.state
            parts.append(result)
            seconds.append(elapsed)
        self._show(self._collect(net, parts, seconds, steps, traced, compile_s, executable))
        return True

    async def run_async(self, event=None) -> None:
        """The Run button: compile and simulate chunk by chunk in a worker thread."""
        if self.running:
            return
        self.messages.clear()
        self._stop_requested = False
        self.running = True
        self.done = 0
        self._status.object = "Compiling…"
        try:
            ok, prepared = await asyncio.to_thread(self.messages.guarded, self._prepare)
            if not ok:
                self._status.object = "Run refused (see the message above)."
                return
            net, params, padded, chunk, steps, state, traced, executable, compile_s = prepared
            parts, seconds = [], []
            for index in range(CHUNKS):
                if self._stop_requested:
                    self.messages.note(f"Stopped after {index} of {CHUNKS} chunks.")
                    break
                self._status.object = f"Simulating chunk {index + 1} of {CHUNKS}…"
                ok, outcome = await asyncio.to_thread(
                    self.messages.guarded,
                    lambda i=index, s=state: self._chunk(
                        executable, net, params, padded, chunk, i, s
                    ),
                )
                if not ok:
                    break
                result, elapsed = outcome
                state = result.state
                parts.append(result)
                seconds.append(elapsed)
                self.done = index + 1
                self._show(self._collect(net, parts, seconds, steps, traced, compile_s, executable))
        finally:
            self.running = False

    def stop(self, event=None) -> None:
        self._stop_requested = True

    # ---- view -------------------------------------------------------------------------------
    def _show(self, run: NetworkRun) -> None:
        self.run = run
        self._raster.object = plotting.raster(
            run.spike_ms, run.spike_neuron, run.n_neurons, run.duration_ms
        ).opts(width=PLOT_WIDTH)
        self._traces.object = plotting.voltage_traces(run.t_ms, run.voltage, run.traced).opts(
            width=PLOT_WIDTH
        )
        self._rate.object = plotting.population_rate(
            run.spike_ms, run.n_neurons, run.duration_ms, bin_ms=max(1.0, run.duration_ms / 200)
        ).opts(width=PLOT_WIDTH)
        self._queues.object = plotting.curves(
            run.t_ms,
            {"events in flight": run.pending, "dropped (total)": np.cumsum(run.dropped)},
            "time (ms)",
            "events",
            f"Synapse queues ({run.queue_name})",
        ).opts(width=PLOT_WIDTH)
        memory = f"{run.peak_bytes / 2**20:.1f} MB" if run.peak_bytes else "n/a"
        self._status.object = (
            f"**{len(run.spike_ms):,} spikes** from {run.n_neurons} neurons over "
            f"{run.steps * (run.t_ms[1] - run.t_ms[0]) if run.steps > 1 else 0:.1f} ms "
            f"({run.steps:,} steps); mean rate {run.mean_rate_hz:.1f} Hz; "
            f"dropped {int(run.dropped.sum()):,} events · **{run.us_per_step:.1f} µs/step** "
            f"(compile {run.compile_s:.1f} s) · XLA peak memory {memory}"
        )

    def _build(self) -> pn.viewable.Viewable:
        w = pn.widgets
        run = w.Button(
            label="Run", color="primary", css_classes=["run-button"], disabled=self.param.running
        )
        stop = w.Button(label="■ Stop", color="warning")
        run.on_click(self.run_async)
        stop.on_click(self.stop)
        progress = pn.indicators.Progress(value=self.param.done, max=self.param.total, width=260)
        p = self.param
        controls = pn.Column(
            "### Network",
            w.IntInput.from_param(p.n_neurons, label="Neurons"),
            w.FloatInput.from_param(p.connection_prob, label="Connection probability", step=0.05),
            w.FloatInput.from_param(p.weight_scale, label="Weight scale g (× 1/√n)", step=0.1),
            w.Select.from_param(p.weight_dist, label="Weight distribution"),
            w.FloatInput.from_param(p.delay_ms, label="Mean delay (ms)", step=0.5),
            w.FloatInput.from_param(p.delay_spread_ms, label="Delay spread (ms)", step=0.1),
            w.FloatInput.from_param(p.max_delay_ms, label="Max delay (ms)", step=0.5),
            "### Queues",
            w.Select.from_param(p.queue, label="Queue kind"),
            w.IntInput.from_param(p.capacity, label="Capacity k"),
            w.Select.from_param(p.arrangement, label="Arrangement"),
            w.IntInput.from_param(p.history, label="History (per_neuron)"),
            "### Run",
            w.FloatInput.from_param(p.dt_ms, label="dt (ms)", step=0.025),
            w.FloatInput.from_param(p.duration_ms, label="Duration (ms)", step=10),
            w.FloatInput.from_param(p.drive_current, label="Injected current", step=0.1),
            w.FloatInput.from_param(p.drive_until_ms, label="Drive until (ms)", step=1),
            w.TextInput.from_param(p.traced, label="Traced neurons"),
            w.IntInput.from_param(p.seed, label="Seed"),
            pn.Row(run, stop),
            progress,
            width=300,
        )
        main = pn.Column(
            pn.pane.Markdown(
                "## Network explorer\nLIF neurons with delayed synapses "
                "(`adseq_lab.network`). Weights g/√n · draw, delays per synapse (ms), an "
                "injected current until *drive until*. Time per step excludes compilation; "
                "memory is XLA's estimate for one chunk of the run."
            ),
            self.messages.pane,
            self._status,
            pn.Row(self._raster, self._rate),
            pn.Row(self._traces, self._queues),
            sizing_mode="stretch_width",
        )
        return pn.Row(controls, main, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def _queue_name(net: network.Network) -> str:
    if net.arrangement == "per_neuron":
        return f"per_neuron, history {net.history}"
    return getattr(net.queue, "__name__", str(net.queue))


def _simulate_chunk(net, params, drive, state):
    return network.simulate(net, params, drive, state=state)
