"""Servers and whether their tmux answers."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

STATE_STYLE = {"up": "bold green", "down": "bold red", "unknown": "dim", "starting": "dim",
               "open": "bold red", "half-open": "bold yellow"}


class ServersTable(DataTable[Any]):
    """One row per configured server; updated by ServerStateChanged events."""

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_column("server", key="id")
        self.add_column("kind", key="kind")
        self.add_column("where", key="where")
        self.add_column("state", key="state")
        self.add_column("detail", key="detail")

    def show(self, servers: list[dict[str, Any]]) -> None:
        for s in servers:
            self.set_server(s["id"], s["kind"], s["where"], s["state"], s["detail"])

    def set_server(self, sid: str, kind: str, where: str, state: str, detail: str) -> None:
        cells = [sid, kind, where, Text(state, style=STATE_STYLE.get(state, "")), detail[:60]]
        if sid in self.rows:
            for key, value in zip(("id", "kind", "where", "state", "detail"), cells, strict=True):
                self.update_cell(sid, key, value)
        else:
            self.add_row(*cells, key=sid)

    def set_state(self, sid: str, state: str, detail: str) -> None:
        if sid in self.rows:
            self.update_cell(sid, "state", Text(state, style=STATE_STYLE.get(state, "")))
            self.update_cell(sid, "detail", detail[:60])
