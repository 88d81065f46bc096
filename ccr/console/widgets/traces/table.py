"""Recent traces, newest first: what started them, where, how long, how many errors."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from ccr.console.widgets.keyed import KeyedTable

COLUMNS = (("trace", "trace"), ("started", "start"), ("flow", "name"), ("server", "server"),
           ("took", "took"), ("spans", "spans"), ("errors", "errors"))


def duration(ms: float) -> str:
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


class TracesTable(KeyedTable):
    """Rows are `Tracing.recent()` dicts keyed by trace id; highlighting one selects it."""

    class Chosen(Message):
        """The highlighted trace changed."""

        def __init__(self, trace_id: str) -> None:
            super().__init__()
            self.trace_id = trace_id

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.traces: list[dict[str, Any]] = []

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, traces: list[dict[str, Any]]) -> None:
        """Replace the list; the highlighted trace stays highlighted when still listed. A
        trace read while its spans were still being written is redrawn once they are (its
        name, span and error counts change; the same ids are not the same rows)."""
        if traces == self.traces:
            return
        current = self.selected
        self.traces = traces
        self.clear()
        for t in traces:
            errors = int(t["errors"])
            self.add_row(
                Text(t["short"], style="bold"),
                time.strftime("%H:%M:%S", time.localtime(t["start"])),
                t["name"], t["server"] or "-", duration(float(t["duration_ms"])),
                str(t["spans"]),
                Text(str(errors), style="bold red") if errors else Text("0", style="dim"),
                key=t["trace_id"])
        self.keep_cursor([t["trace_id"] for t in traces], current)

    @property
    def selected(self) -> str | None:
        return self.cursor_key

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.Chosen(event.row_key.value))
