"""The dead-letter queue: what each message was, to which chat, why it failed, its next try."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from ccr.console.widgets.keyed import KeyedTable
from ccr.core.durations import ago

STATE_STYLE = {"queued": "yellow", "retrying": "cyan", "archived": "bold red",
               "delivered": "green"}
COLUMNS = (("#", "id"), ("what", "what"), ("chat", "chat"), ("state", "state"),
           ("next try", "next"), ("tries", "tries"), ("why", "why"))


def next_try(entry: dict[str, Any], now: float) -> Text:
    if entry["state"] == "archived":
        return Text("none (archived)", style="red")
    if entry["state"] == "retrying":
        return Text("sending now", style="cyan")
    at = entry["next_attempt_at"]
    if at is None:
        return Text("-", style="dim")
    clock = time.strftime("%H:%M:%S", time.localtime(at))
    return Text(f"{clock} (in {ago(at - now)})" if at > now else f"{clock} (due)")


class DeadLettersTable(KeyedTable):
    """Rows are `ccr.services.dead_letters.view` dicts keyed by entry id.

    `show` replaces the whole list.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, entries: list[dict[str, Any]], now: float) -> None:
        """Show exactly these entries, updating rows in place (the cursor stays put)."""
        wanted = {str(e["id"]): e for e in entries}
        for key in [k for k in self.entries if k not in wanted]:
            self.remove_row(key)
        for key, entry in wanted.items():
            cells = self._cells(entry, now)
            if key in self.entries:
                for column, value in cells.items():
                    self.update_cell(key, column, value)
            else:
                self.add_row(*cells.values(), key=key)
        self.entries = wanted

    @staticmethod
    def _cells(e: dict[str, Any], now: float) -> dict[str, Any]:
        return {
            "id": str(e["id"]),
            "what": " ".join(str(e["what"]).split())[:40],
            "chat": str(e["chat_id"]),
            "state": Text(e["state"], style=STATE_STYLE.get(e["state"], "")),
            "next": next_try(e, now),
            "tries": f"{e['attempts']} · cycle {e['cycles']}/{e['max_cycles']}",
            "why": " ".join(str(e["reason"]).split())[:60],
        }

    @property
    def selected(self) -> dict[str, Any] | None:
        return self.entries.get(self.cursor_key or "")
