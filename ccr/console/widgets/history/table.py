"""Past commands, newest first: when, where, how it ended, how long, what was asked."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from ccr.console.widgets.keyed import KeyedTable
from ccr.core.durations import duration
from ccr.core.models import Command, CommandState

COLUMNS = (("time", "time"), ("session", "handle"), ("state", "state"), ("took", "took"),
           ("text", "text"))
STATE_STYLE = {CommandState.COMPLETED: "green", CommandState.FAILED: "bold red",
               CommandState.TIMEOUT: "red", CommandState.UNCERTAIN: "yellow",
               CommandState.CANCELLED: "dim"}
TEXT_WIDTH = 80


class HistoryTable(KeyedTable):
    """Rows are (masked) commands keyed by id; Enter on one asks for its detail."""

    class Opened(Message):
        """Enter on a command."""

        def __init__(self, command_id: str) -> None:
            super().__init__()
            self.command_id = command_id

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands: list[Command] = []

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, commands: list[Command]) -> None:
        """Replace the rows; the highlighted command stays highlighted when still listed."""
        current = self.selected
        self.commands = commands
        self.clear()
        for c in commands:
            flat = " ".join(c.text.split())
            self.add_row(
                time.strftime("%m-%d %H:%M:%S", time.localtime(c.created_at)),
                Text(c.handle, style="bold"),
                Text(c.state.value, style=STATE_STYLE.get(c.state, "cyan")),
                duration(c.duration),
                flat if len(flat) <= TEXT_WIDTH else flat[: TEXT_WIDTH - 1] + "…",
                key=c.id)
        self.keep_cursor([c.id for c in commands], current)

    @property
    def selected(self) -> str | None:
        return self.cursor_key

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.Opened(event.row_key.value))
