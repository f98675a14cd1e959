"""The served dashboards: one route per app plus an index page linking them.

Routes map to factories, so every browser session builds its own dashboard instance and no state
is shared between sessions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import panel as pn

from .benchmarks import BenchmarksPage
from .learning_studio import LearningStudio
from .network_explorer import NetworkExplorer
from .queue_explorer import QueueExplorer

__all__ = ["App", "APPS", "page", "index_page", "routes"]


@dataclasses.dataclass(frozen=True)
class App:
    """A dashboard: its URL ``slug``, ``title``, one-line ``summary`` and ``viewer`` class."""

    slug: str
    title: str
    summary: str
    viewer: Callable[[], pn.viewable.Viewer]


APPS: tuple[App, ...] = (
    App(
        "network_explorer",
        "Network explorer",
        "A recurrent LIF network with delayed synapses: raster, voltages, population rate, "
        "queue occupancy and drops, time per step and memory, for any queue kind.",
        NetworkExplorer,
    ),
    App(
        "learning_studio",
        "Delay-learning studio",
        "Train synaptic delays on a task, forward or reverse mode; watch the loss, each delay "
        "and the gradients live; stop early, save and load the state.",
        LearningStudio,
    ),
    App(
        "queue_explorer",
        "Queue explorer",
        "Feed queue kinds one stream of delayed events; watch events enter, pop and drop, "
        "step by step, with their tangents.",
        QueueExplorer,
    ),
    App(
        "benchmarks",
        "Benchmarks",
        "Time per step against N per queue kind, measured live or loaded from a saved JSON, "
        "beside adseq 0.9.4; network parameter sweeps, here or on a Dask cluster, plotted as "
        "rows arrive.",
        BenchmarksPage,
    ),
)


def _app(slug: str) -> App:
    for app in APPS:
        if app.slug == slug:
            return app
    raise ValueError(f"unknown dashboard {slug!r}; choose from {', '.join(a.slug for a in APPS)}")


def page(slug: str) -> pn.viewable.Viewable:
    """A fresh instance of dashboard ``slug``, titled, for one session."""
    app = _app(slug)
    if pn.state.curdoc is not None:
        pn.state.curdoc.title = f"adseq-lab · {app.title}"
    return pn.panel(app.viewer())


def index_page() -> pn.viewable.Viewable:
    """Links to every dashboard, with what each shows."""
    if pn.state.curdoc is not None:
        pn.state.curdoc.title = "adseq-lab dashboards"
    items = "\n".join(f"- [**{app.title}**](./{app.slug}) — {app.summary}" for app in APPS)
    return pn.Column(
        pn.pane.Markdown(
            "# adseq-lab dashboards\n"
            "Autodifferentiable spike-event queues, explored interactively. Each page opens a "
            "session of its own.\n\n" + items,
            css_classes=["dashboard-index"],
            width=720,
        ),
        margin=(10, 30),
    )


def routes() -> dict[str, Callable[[], pn.viewable.Viewable]]:
    """``{url path: factory}`` for ``pn.serve``: the index at ``/`` and one path per app."""
    served: dict[str, Callable[[], pn.viewable.Viewable]] = {"/": index_page}
    for app in APPS:
        served[app.slug] = lambda slug=app.slug: page(slug)
    return served
