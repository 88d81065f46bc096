"""Traces: the latest notification and command flows, and one of them as a timeline.

Spans have no event of their own: the list is re-read when the screen is shown, shortly
after an event that ends a flow (a notification sent or failed, a command's state), and on
`r`.
"""

from __future__ import annotations

from functools import partial
from pathlib import PurePath
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header

from ccr.console.screens.base import OperatorScreen
from ccr.console.widgets.traces import TracesTable, TraceTimeline
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


class TracesScreen(OperatorScreen[list[dict[str, Any]]]):
    """Recent traces above, the highlighted one's timeline below."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["operator.tcss", "traces.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload"),
    ]
    reload_on = FLOW_ENDS
    settle_s = SETTLE_S

    def compose(self) -> ComposeResult:
        yield Header()
        yield TracesTable(id="traces")
        with VerticalScroll(id="timeline-pane"):
            yield TraceTimeline(id="timeline")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TracesTable).border_title = "recent traces"
        self.query_one("#timeline-pane").border_title = "timeline"

    def hub_event(self, event: Event) -> None:
        if self.hub.tracing.enabled:
            super().hub_event(event)

    def reload(self) -> None:
        if self.hub.tracing.enabled:
            super().reload()
        else:
            self.query_one(TracesTable).border_title = (
                "recent traces: tracing is off ([tracing] enabled = false)")
            self.mark_settled()

    async def load(self) -> list[dict[str, Any]]:
        return await self.hub.tracing.recent(RECENT)

    def show(self, traces: list[dict[str, Any]]) -> None:
        table = self.query_one(TracesTable)
        table.show(traces)
        table.border_title = f"recent traces ({len(traces)})"
        if traces and self.query_one(TraceTimeline).timeline is None:
            self.open(table.selected or traces[0]["trace_id"])

    def on_traces_table_chosen(self, message: TracesTable.Chosen) -> None:
        self.open(message.trace_id)

    def open(self, trace_id: str) -> None:
        """Read one trace's spans and draw them as a timeline below the list."""
        self.fetch(partial(self.hub.tracing.timeline, trace_id), self._show_timeline,
                   group="timeline")

    def _show_timeline(self, data: dict[str, Any]) -> None:
        self.query_one(TraceTimeline).timeline = data
        self.query_one("#timeline-pane").border_title = (
            f"timeline of {data['short']}" + (f" · {data['errors']} error span(s)"
                                              if data["errors"] else ""))
