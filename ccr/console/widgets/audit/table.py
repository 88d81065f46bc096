"""Audit entries, newest first: when, who, from where, what, where, how it ended."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from ccr.console.widgets.keyed import KeyedTable
from ccr.services import audit
from ccr.store.audit import Entry

COLUMNS = (("when", "when"), ("who", "who"), ("face", "face"), ("action", "action"),
           ("where", "where"), ("what", "what"), ("outcome", "outcome"))
WHAT_CHARS = 60
OUTCOME_CHARS = 70


class AuditTable(KeyedTable):
    """Rows keyed by entry id; a refused attempt is shown in red."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: list[Entry] = []

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, entries: list[Entry]) -> None:
        """Replace the rows; the highlighted entry stays highlighted when still listed."""
        if [e.id for e in entries] == [e.id for e in self.entries]:
            return
        current = self.cursor_key
        self.entries = entries
        self.clear()
        for e in entries:
            style = "bold red" if e.refused else ""
            self.add_row(
                time.strftime("%m-%d %H:%M:%S", time.localtime(e.at)),
                Text(audit.who(e), style="bold"), e.face,
                Text(e.action, style=style), audit.where(e),
                Text(_clip(e.what, WHAT_CHARS)),
                Text(_clip(e.outcome, OUTCOME_CHARS),
                     style=style or ("yellow" if e.outcome.startswith("failed") else "green")),
                key=str(e.id))
        self.keep_cursor([str(e.id) for e in entries], current)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
