"""What every dashboard shares: the message pane for refused input and the error boundary.

User input reaches the library as typed values (integers, floats, registry names), never as code.
The library refuses an invalid combination with ``ValueError``; :class:`Messages` shows that text
on the page. Any other exception is logged on the server and shown as a one-line message, so no
stack trace reaches the page and the server keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import panel as pn

LOG = logging.getLogger("adseq_lab.dashboards")


class Messages:
    """An alert pane, hidden while there is nothing to say."""

    def __init__(self) -> None:
        self.pane = pn.pane.Alert(
            "", alert_type="danger", visible=False, sizing_mode="stretch_width"
        )

    @property
    def text(self) -> str:
        return self.pane.object if self.pane.visible else ""

    def refuse(self, text: str) -> None:
        self.pane.param.update(object=text, alert_type="danger", visible=True)

    def note(self, text: str) -> None:
        self.pane.param.update(object=text, alert_type="info", visible=True)

    def clear(self) -> None:
        self.pane.param.update(object="", visible=False)

    def guarded(self, work: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``work``; ``(True, result)``, or ``(False, None)`` with the refusal shown."""
        try:
            return True, work()
        except ValueError as error:
            self.refuse(f"**Refused:** {error}")
        except Exception as error:  # the boundary: log it, keep the server and page alive
            LOG.exception("dashboard computation failed")
            self.refuse(f"**Failed:** {type(error).__name__} (details in the server log)")
        return False, None


def in_served_session() -> bool:
    """Whether this code runs inside a served Bokeh session (not a notebook or a test)."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


def on_session_end(callback: Callable[[], None]) -> None:
    """Call ``callback`` when this browser session closes (no-op outside a served session)."""
    if in_served_session():
        pn.state.curdoc.on_session_destroyed(lambda _context: callback())
