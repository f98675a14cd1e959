"""Queue explorer: feed queue kinds the same event stream and watch them step by step.

All queue behaviour comes from :func:`adseq_lab.queue_trace.trace_queue` (the library's queues in
one ``lax.scan``); this class only declares the controls and shows the result.
"""

from __future__ import annotations

import asyncio
from functools import partial

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from .. import plotting, queues
from ..queue_trace import QueueTrace, poisson_stream, trace_queue
from .common import Messages, in_served_session, on_session_end

__all__ = ["QueueExplorer"]


class QueueExplorer(pn.viewable.Viewer):
    """Compare queue kinds on one seeded stream of delayed events.

    Each step a queue first receives the step's event (due at ``step + delay``), then pops the
    step. The plots show what every queue holds over time, the events entering, popped and
    dropped, and the tangents (ms) they carry.
    """

    kinds = param.ListSelector(
        default=["fifo_ring", "sorted_array", "lossy_ring"],
        objects=queues.names(),
        doc="Queue kinds to compare on the same stream",
    )
    capacity = param.Integer(
        default=3, bounds=(0, 64), doc="Capacity k (kinds that have one: FIFORing[k], ...)"
    )
    delay_steps = param.Integer(default=6, bounds=(0, 200), doc="Mean delay (steps)")
    delay_spread = param.Integer(default=3, bounds=(0, 100), doc="Delay spread ± (steps)")
    rate = param.Number(default=0.35, bounds=(0.0, 1.0), step=0.05, doc="Events per step")
    steps = param.Integer(default=60, bounds=(5, 400), doc="Steps to simulate")
    batch = param.Integer(default=1, bounds=(1, 8), doc="Queues side by side (own streams)")
    queue = param.Integer(default=0, bounds=(0, 0), doc="Which queue of the batch to show")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Random seed of the stream")
    cursor = param.Integer(default=0, bounds=(0, 59), doc="Step shown")
    frame_ms = param.Integer(default=250, bounds=(30, 2000), doc="Animation: ms per step")
    playing = param.Boolean(default=False, doc="Whether the animation runs")
    busy = param.Boolean(default=False, doc="Whether a run is in progress")

    traces = param.List(default=[], item_type=QueueTrace, precedence=-1)

    def __init__(self, **params):
        super().__init__(**params)
        self.messages = Messages()
        self._animation = None
        self._plots = pn.Column(sizing_mode="stretch_width")
        self._occupancy = pn.Column()
        self._summary = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width")
        self._detail = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._status = pn.pane.Markdown("No run yet: press **Run**.", css_classes=["run-status"])
        self._player_state = pn.pane.Markdown("", css_classes=["player-state"], width=200)
        self._layout = self._build()
        on_session_end(self.stop)

    # ---- actions -------------------------------------------------------------------------
    def simulate(self) -> list[QueueTrace]:
        """The traces of the selected kinds on this dashboard's stream (may raise ValueError)."""
        if not self.kinds:
            raise ValueError("kinds: choose at least one queue kind")
        stream = poisson_stream(
            self.steps, self.batch, self.rate, self.delay_steps, self.delay_spread, self.seed
        )
        traces = []
        for kind in self.kinds:
            capacity = self.capacity if queues.info(kind).has_capacity else None
            traces.append(trace_queue(kind, stream, capacity=capacity))
        return traces

    def run_now(self) -> bool:
        """Simulate and show the result synchronously; False (message shown) if refused."""
        self.messages.clear()
        ok, traces = self.messages.guarded(self.simulate)
        if ok:
            self._show(traces)
        return ok

    async def run_async(self, event=None) -> None:
        """The Run button: simulate in a worker thread so the page stays responsive."""
        if self.busy:
            return
        self.stop()
        self.busy = True
        self.messages.clear()
        self._status.object = "Running…"
        try:
            ok, traces = await asyncio.to_thread(self.messages.guarded, self.simulate)
            if ok:
                self._show(traces)
            else:
                self._status.object = "Run refused (see the message above)."
        finally:
            self.busy = False

    def step_forward(self, event=None) -> None:
        if self.traces:
            self.cursor = min(self.cursor + 1, self.param.cursor.bounds[1])

    def step_back(self, event=None) -> None:
        if self.traces:
            self.cursor = max(self.cursor - 1, 0)

    def play(self, event=None) -> None:
        """Animate: advance one step every ``frame_ms`` until the end or :meth:`stop`."""
        if not self.traces or self._animation is not None:
            return
        if self.cursor >= self.param.cursor.bounds[1]:
            self.cursor = 0
        self.playing = True
        self._player_state.object = "▶ playing"
        self._animation = pn.state.add_periodic_callback(self._tick, period=self.frame_ms)

    def stop(self, event=None) -> None:
        if self._animation is not None:
            self._animation.stop()
            self._animation = None
        if self.playing:
            self._player_state.object = f"■ stopped at step {self.cursor}"
        self.playing = False

    def _tick(self) -> None:
        if not self.playing:
            return
        if self.cursor >= self.param.cursor.bounds[1]:
            self.stop()
        else:
            self.cursor += 1

    # ---- state to view -------------------------------------------------------------------
    def _show(self, traces: list[QueueTrace]) -> None:
        last = traces[0].steps - 1
        self.param.cursor.bounds = (0, last)
        self.param.queue.bounds = (0, traces[0].hit.shape[1] - 1)
        with param.parameterized.batch_call_watchers(self):
            self.queue = min(self.queue, traces[0].hit.shape[1] - 1)
            self.cursor = last
            self.traces = traces
        stream = hv.streams.Params(parameterized=self, parameters=["cursor", "queue"])
        self._plots.objects = [
            pn.pane.HoloViews(
                hv.DynamicMap(partial(self._history, trace), streams=[stream]),
                sizing_mode="fixed",
            )
            for trace in traces
        ]
        self._occupancy.objects = [
            pn.pane.HoloViews(hv.DynamicMap(self._occupancy_plot, streams=[stream]))
        ]
        self._summary.object = self.summary()
        events = sum(len(t.entered) for t in traces) // len(traces)
        self._status.object = (
            f"Plotted {events} events through {len(traces)} kind(s) over {last + 1} steps."
        )
        self._update_detail()

    @staticmethod
    def _history(trace: QueueTrace, cursor: int, queue: int):
        return plotting.queue_history(trace, queue=queue, until=cursor)

    def _occupancy_plot(self, cursor: int, queue: int):
        return plotting.queue_occupancy(self.traces, queue=queue, until=cursor)

    def summary(self) -> pd.DataFrame:
        """Per kind, for the queue shown: events entered, popped, dropped and still held."""
        rows = []
        for trace in self.traces:
            q = self.queue
            entry = queues.info(trace.kind)
            rows.append(
                {
                    "queue kind": trace.queue_name,
                    "entered": int(np.sum(trace.entered.queue == q)),
                    "popped": int(trace.popped.count[trace.popped.queue == q].sum()),
                    "dropped": int(trace.dropped[-1, q]),
                    "held at end": int(trace.pending[-1, q]),
                    "most held": int(trace.pending[:, q].max()),
                    "contract": entry.contract,
                }
            )
        return pd.DataFrame(rows)

    def step_report(self, trace: QueueTrace) -> str:
        """What happened to the shown queue at the cursor step, in words."""
        t, q = self.cursor, self.queue

        def events(table) -> str:
            mine = (table.step == t) & (table.queue == q)
            parts = []
            rows = zip(
                table.arrival_step[mine], table.count[mine], table.tangent[mine], strict=True
            )
            for a, c, g in rows:
                tangent = f", tangent {g:+.2f} ms" if trace.has_tangents else ""
                parts.append(f"{c}× due {a:.0f}{tangent}")
            return "; ".join(parts) or "—"

        held = trace.held_arrival[t, q][trace.held_count[t, q] > 0]
        holding = ", ".join(f"{a:.0f}" for a in np.sort(held)) or "nothing"
        return (
            f"**{trace.queue_name}** — entered: {events(trace.entered)} · popped: "
            f"{events(trace.popped)} · dropped: {events(trace.lost)} · holds: {holding}"
        )

    @param.depends("cursor", "queue", watch=True)
    def _update_detail(self) -> None:
        if self.traces:
            lines = [f"#### Step {self.cursor}, queue {self.queue}"]
            lines += [f"- {self.step_report(trace)}" for trace in self.traces]
            self._detail.object = "\n".join(lines)
            self._summary.object = self.summary()

    @param.depends("batch", watch=True)
    def _queue_bounds(self) -> None:
        self.param.queue.bounds = (0, self.batch - 1)
        self.queue = min(self.queue, self.batch - 1)

    # ---- layout --------------------------------------------------------------------------
    def _build(self) -> pn.viewable.Viewable:
        w = pn.widgets
        run = w.Button(
            label="Run", color="primary", css_classes=["run-button"], disabled=self.param.busy
        )
        run.on_click(self.run_async if in_served_session() else lambda _e: self.run_now())
        back = w.Button(label="◀ Step", width=80)
        forward = w.Button(label="Step ▶", width=80)
        play = w.Button(label="▶ Play", color="success", width=80)
        stop = w.Button(label="■ Stop", color="warning", width=80)
        back.on_click(self.step_back)
        forward.on_click(self.step_forward)
        play.on_click(self.play)
        stop.on_click(self.stop)
        capacity_note = ", ".join(n for n in queues.names() if queues.info(n).has_capacity)
        controls = pn.Column(
            "### Stream and queues",
            w.MultiChoice.from_param(self.param.kinds, label="Queue kinds"),
            w.IntInput.from_param(self.param.capacity, label="Capacity k"),
            pn.pane.Markdown(f"<small>k applies to {capacity_note}</small>", margin=(0, 10)),
            w.IntInput.from_param(self.param.delay_steps, label="Delay (steps)"),
            w.IntInput.from_param(self.param.delay_spread, label="Delay spread ± (steps)"),
            w.FloatSlider.from_param(self.param.rate, label="Event probability per step"),
            w.IntInput.from_param(self.param.steps, label="Steps"),
            w.IntInput.from_param(self.param.batch, label="Queues in batch"),
            w.IntInput.from_param(self.param.seed, label="Seed"),
            run,
            width=300,
        )
        player = pn.Row(
            back,
            forward,
            play,
            stop,
            w.IntSlider.from_param(self.param.cursor, label="Step shown", width=260),
            w.IntInput.from_param(self.param.queue, label="Queue shown", width=100),
            w.IntInput.from_param(self.param.frame_ms, label="ms per frame", width=100),
            self._player_state,
        )
        main = pn.Column(
            pn.pane.Markdown(
                "## Queue explorer\n"
                "One seeded stream of delayed events feeds every chosen kind. Each step a queue "
                "receives the step's event (due at *step + delay*), then pops the step. Squares: "
                "events held (y: arrival step, colour: tangent in ms); △ entered, ○ popped, "
                "✕ dropped; the dashed diagonal is where events fall due.",
                sizing_mode="stretch_width",
            ),
            self.messages.pane,
            self._status,
            player,
            self._detail,
            self._plots,
            self._occupancy,
            self._summary,
            sizing_mode="stretch_width",
        )
        return pn.Row(controls, main, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
