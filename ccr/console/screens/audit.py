"""The audit log: who did what from which face, newest first (key 8).

Re-read when shown, when the hub records an entry (AuditRecorded, settled briefly so a burst
is one read), and on `r`.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from ccr.console.screens.base import OperatorScreen
from ccr.console.widgets.audit import AuditTable
from ccr.core.events import AuditRecorded
from ccr.services import audit
from ccr.store.audit import Entry

SHOWN = 500
SETTLE_S = 0.3


class AuditScreen(OperatorScreen[list[Entry]]):
    """The latest audit entries; refused attempts in red."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["operator.tcss", "audit.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload"),
    ]
    reload_on = (AuditRecorded,)
    settle_s = SETTLE_S

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Every change made through Telegram, the console, the CLI and the API, "
                     f"and every refused attempt; kept {self.hub.audit.keep_days:g} days "
                     "([audit] keep_days).", classes="explain", markup=False)
        yield AuditTable(id="audit")
        yield Static("No audit entries yet: nothing has been changed.", id="audit-empty",
                     classes="empty")
        yield Static("", id="audit-detail", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(AuditTable).border_title = "audit log"

    async def load(self) -> list[Entry]:
        return await self.hub.audit.recent(limit=SHOWN)

    def show(self, data: list[Entry]) -> None:
        table = self.query_one(AuditTable)
        table.show(data)
        refused = sum(e.refused for e in data)
        table.border_title = (f"audit log ({len(data)} entries"
                              + (f", {refused} refused" if refused else "") + ")")
        self.query_one("#audit-empty").display = not data
        self._detail(table.cursor_key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.row_key.value)

    def _detail(self, key: str | None) -> None:
        """The highlighted entry in full under the table (its columns may be cut)."""
        table = self.query_one(AuditTable)
        entry = next((e for e in table.entries if str(e.id) == key), None)
        pane = self.query_one("#audit-detail", Static)
        pane.display = entry is not None
        if entry is not None:
            trace = f" · trace {entry.trace_id[:12]}" if entry.trace_id else ""
            pane.update(f"{audit.who(entry)} via {entry.face} · {entry.action} on "
                        f"{audit.where(entry)}{trace}\nwhat: {entry.what}\n"
                        f"outcome: {entry.outcome}")
