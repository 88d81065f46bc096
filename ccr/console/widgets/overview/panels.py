"""The overview's small panels: servers with health and breaker, latest commands, dead
letters, active alerts, and the selected session's live pane. Each takes plain data from the
screen (which reads the hub's services) and only draws it."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Static

from ccr.console.widgets.main.sessions import one_line
from ccr.core.durations import ago
from ccr.core.models import Command, CommandState
from ccr.core.redact import redact

HEALTH_STYLE = {"up": "bold green", "down": "bold red", "unknown": "dim", "starting": "dim"}
BREAKER_STYLE = {"closed": "green", "open": "bold red", "half_open": "bold yellow"}
STATE_STYLE = {
    CommandState.COMPLETED: "green", CommandState.FAILED: "bold red",
    CommandState.UNCERTAIN: "bold red", CommandState.TIMEOUT: "yellow",
    CommandState.EXECUTING: "bold cyan",
}


class Table(DataTable[Any]):
    """A read-only table that is replaced whole (a few rows), without a cursor."""

    def __init__(self, columns: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, **kwargs)
        self.columns_wanted = columns
        self.shown: list[tuple[Any, ...]] = []

    def on_mount(self) -> None:
        for label in self.columns_wanted:
            self.add_column(label, key=label)

    def replace(self, rows: list[tuple[Any, ...]]) -> None:
        """Show `rows`; no repaint when they did not change. The columns are made anew, so
        their widths fit what is shown now, not the widest text ever shown."""
        plain = [tuple(str(c) for c in row) for row in rows]
        if plain == self.shown:
            return
        self.shown = plain
        self.clear(columns=True)
        for label in self.columns_wanted:
            self.add_column(label, key=label)
        for row in rows:
            self.add_row(*row)


def server_rows(views: list[dict[str, Any]], now: float) -> list[tuple[Any, ...]]:
    """A server per row: its tmux health, its breaker, when its last hook came."""
    rows = []
    for v in views:
        health = v["state"]
        breaker = v["breaker"]
        hook = ago(now - v["last_hook_at"]) + " ago" if v.get("last_hook_at") else "-"
        rows.append((Text(v["id"], style="bold"), v["kind"],
                     Text(health, style=HEALTH_STYLE.get(health, "")),
                     Text(breaker.replace("_", "-"), style=BREAKER_STYLE.get(breaker, "")),
                     hook, one_line(v["detail"], 40)))
    return rows


def command_rows(commands: list[Command], now: float) -> list[tuple[Any, ...]]:
    """The latest commands, newest first: when, where, what, and how it ended."""
    rows = []
    for c in commands:
        took = (f"{(c.finished_at - c.created_at):.1f} s" if c.finished_at
                else ago(now - c.created_at))
        rows.append((time.strftime("%H:%M:%S", time.localtime(c.created_at)),
                     Text(c.handle, style="bold"),
                     Text(c.state.value, style=STATE_STYLE.get(c.state, "")), took,
                     one_line(c.text, 48)))
    return rows


def dead_letter_rows(views: list[dict[str, Any]], now: float) -> list[tuple[Any, ...]]:
    """The newest dead letters first: what, to which chat, why."""
    newest = sorted(views, key=lambda v: (v["created_at"], v["id"]), reverse=True)
    return [(str(v["id"]), ago(now - v["created_at"]) + " ago", v["state"],
             one_line(v["what"], 36), one_line(v["reason"], 40)) for v in newest]


def alert_rows(views: list[dict[str, Any]], now: float) -> list[tuple[Any, ...]]:
    """Active alerts: firing ones in red, acknowledged ones dim."""
    rows = []
    for a in views:
        style = "bold red" if a["state"] == "firing" else "dim"
        rows.append((str(a["id"]), Text(a["state"], style=style), a["server"] or "hub",
                     ago(now - a["fired_at"]) + " ago", one_line(a["message"], 48)))
    return rows


class PaneView(Static):
    """The selected session's pane as text, as it is now (refreshed by the screen)."""

    def show_text(self, handle: str, text: str) -> None:
        lines = redact(text).rstrip("\n").splitlines()
        height = max(1, self.content_size.height or 20)
        self.update(Text("\n".join(lines[-height:]), no_wrap=True, overflow="crop"))
        self.border_title = f"pane of {handle} · live"

    def show_note(self, note: str) -> None:
        self.update(Text(note, style="dim"))
