"""Traces: the latest notification and command flows, and one of them as a timeline.

Spans have no event of their own: the list is re-read when the screen is shown, shortly
after an event that ends a flow (a notification sent or failed, a command's state), and on
`r`.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header

from ccr.console.screens.base import OperatorScreen
from ccr.console.widgets.traces import TracesTable, TraceTimeline
from ccr.core.errors import CcrError
from ccr.core.events import (
    CommandChanged,
    DeadLettered,
    Event,
    NotificationDelivered,
    NotificationFailed,
    SessionUpdated,
)

FLOW_ENDS = (SessionUpdated, NotificationDelivered, NotificationFailed, CommandChanged,
             DeadLettered)
RECENT = 50
SETTLE_S = 1.5
"""Spans reach the store in batches about every second; re-read a little after a flow."""


class TracesScreen(OperatorScreen):
    """Recent traces above, the highlighted one's timeline below."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["operator.tcss", "traces.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield TracesTable(id="traces")
        with VerticalScroll(id="timeline-pane"):
            yield TraceTimeline(id="timeline")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TracesTable).border_title = "recent traces"
        self.query_one("#timeline-pane").border_title = "timeline"

    def on_screen_resume(self) -> None:
        self.reload()

    def hub_event(self, event: Event) -> None:
        if isinstance(event, FLOW_ENDS) and self.hub.tracing.enabled:
            self.reload_soon(SETTLE_S)

    def action_reload(self) -> None:
        self.reload()

    @work(exclusive=True, group="traces")
    async def reload(self) -> None:
        table = self.query_one(TracesTable)
        if not self.hub.tracing.enabled:
            table.border_title = "recent traces: tracing is off ([tracing] enabled = false)"
            return
        traces = await self.hub.tracing.recent(RECENT)
        table.show(traces)
        table.border_title = f"recent traces ({len(traces)})"
        if traces and self.query_one(TraceTimeline).timeline is None:
            self.open(table.selected or traces[0]["trace_id"])

    def on_traces_table_chosen(self, message: TracesTable.Chosen) -> None:
        self.open(message.trace_id)

    @work(exclusive=True, group="timeline")
    async def open(self, trace_id: str) -> None:
        try:
            data = await self.hub.tracing.timeline(trace_id)
        except CcrError as exc:
            self.notify(str(exc), severity="error")
            return
        self.query_one(TraceTimeline).timeline = data
        self.query_one("#timeline-pane").border_title = (
            f"timeline of {data['short']}" + (f" · {data['errors']} error span(s)"
                                              if data["errors"] else ""))
