"""ipywidgets front-ends for notebooks where Panel's extension is not loaded.

They drive the same library calls and :mod:`adseq_lab.plotting` builders as the Panel dashboards.

>>> from adseq_lab.widgets_ipy import queue_explorer
>>> queue_explorer()  # in a notebook cell: controls, then the plots  # doctest: +SKIP
"""

from __future__ import annotations

import functools

from . import plotting, queues
from .queue_trace import QueueTrace, poisson_stream, trace_queue

__all__ = ["queue_explorer", "queue_traces"]


@functools.lru_cache(maxsize=32)
def queue_traces(
    kinds: tuple[str, ...],
    capacity: int,
    delay_steps: int,
    delay_spread: int,
    rate: float,
    steps: int,
    seed: int,
) -> tuple[QueueTrace, ...]:
    """The traces of ``kinds`` on one seeded one-queue stream (cached on the plain arguments).

    ``capacity`` applies to the kinds that have one; ``ValueError`` for invalid combinations.
    """
    if not kinds:
        raise ValueError("kinds: choose at least one queue kind")
    stream = poisson_stream(steps, 1, rate, delay_steps, delay_spread, seed)
    return tuple(
        trace_queue(kind, stream, capacity if queues.info(kind).has_capacity else None)
        for kind in kinds
    )


def _load_holoviews_in_notebook() -> None:
    """Load HoloViews' Bokeh extension once when running inside a Jupyter kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    import holoviews as hv
    from holoviews.ipython import notebook_extension

    if not notebook_extension._loaded:
        hv.extension("bokeh")


def queue_explorer(
    kinds: tuple[str, ...] = ("fifo_ring", "sorted_array", "lossy_ring"),
    capacity: int = 3,
    delay_steps: int = 6,
    delay_spread: int = 3,
    rate: float = 0.35,
    steps: int = 60,
    seed: int = 0,
):
    """An ``interact``-style explorer: pick kinds, capacity, delays, rate and seed; a Play
    button steps through time. Returns the ``ipywidgets.interactive`` widget; its ``result`` is
    the tuple of :class:`~adseq_lab.queue_trace.QueueTrace` shown (``None`` if refused)."""
    import ipywidgets as w
    from IPython.display import Markdown, display

    _load_holoviews_in_notebook()
    cursor = w.IntSlider(steps - 1, 0, 399, description="step shown")
    play = w.Play(value=steps - 1, min=0, max=399, interval=250, description="play")
    w.jslink((play, "value"), (cursor, "value"))

    def show(kinds, capacity, delay_steps, delay_spread, rate, steps, seed, step_shown):
        cursor.max = play.max = steps - 1
        try:
            traces = queue_traces(
                tuple(kinds), capacity, delay_steps, delay_spread, rate, steps, seed
            )
        except ValueError as error:
            display(Markdown(f"**Refused:** {error}"))
            return None
        until = min(step_shown, steps - 1)
        for trace in traces:
            display(plotting.queue_history(trace, until=until))
        display(plotting.queue_occupancy(list(traces), until=until))
        return traces

    explorer = w.interactive(
        show,
        kinds=w.SelectMultiple(options=queues.names(), value=tuple(kinds), description="kinds"),
        capacity=w.BoundedIntText(capacity, min=0, max=64, description="capacity k"),
        delay_steps=w.IntSlider(delay_steps, 0, 200, description="delay (steps)"),
        delay_spread=w.IntSlider(delay_spread, 0, 100, description="spread ±"),
        rate=w.FloatSlider(rate, min=0.0, max=1.0, step=0.05, description="rate / step"),
        steps=w.IntSlider(steps, 5, 400, description="steps"),
        seed=w.BoundedIntText(seed, min=0, max=2**31 - 1, description="seed"),
        step_shown=cursor,
    )
    explorer.children = (play, *explorer.children)
    return explorer
