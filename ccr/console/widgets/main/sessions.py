"""Live sessions and the selected session's last exchange."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from ccr.console.widgets.keyed import KeyedTable
from ccr.core.durations import ago
from ccr.core.models import Session
from ccr.core.redact import redact

EVENT_STYLE = {"stop": "green", "waiting": "bold yellow", "subagent_stop": "cyan",
               "notification": "magenta", "lost": "bold red", "unreachable": "bold red"}


def one_line(text: str | None, width: int) -> str:
    """`text` redacted, on one line, cut to `width` characters."""
    flat = " ".join(redact(text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class SessionsTable(KeyedTable):
    """One row per live session, newest activity kept in place; select one to type into it."""

    class Selected(Message):
        def __init__(self, session: Session | None) -> None:
            super().__init__()
            self.session = session

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sessions: dict[str, Session] = {}
        self.now = 0.0

    def on_mount(self) -> None:
        for label, key in (("handle", "handle"), ("token", "token"), ("project", "project"),
                           ("state", "state"), ("active", "active"), ("Claude said", "last")):
            self.add_column(label, key=key)

    def upsert(self, session: Session, now: float) -> None:
        self.now = now
        key = str(session.id)
        if session.expires_at <= now:  # ended (SessionEnd) or expired: no longer live
            self.sessions.pop(key, None)
            if key in self.rows:
                self.remove_row(key)
            return
        self.sessions[key] = session
        cells = self._cells(session)
        if key in self.rows:
            for col, value in cells.items():
                self.update_cell(key, col, value)
        else:
            self.add_row(*cells.values(), key=key)
        if self.cursor_row >= 0 and self.row_count and self.cursor_key == key:
            self.post_message(self.Selected(session))

    def tick(self, now: float) -> None:
        """Refresh the "active" column as time passes."""
        self.now = now
        for key, s in self.sessions.items():
            if key in self.rows:
                self.update_cell(key, "active", ago(now - s.updated_at) + " ago")

    def _cells(self, s: Session) -> dict[str, Any]:
        event = s.last_event or ""
        if s.health != "ok":
            event = s.health.value  # a lost pane matters more than what Claude last did
        return {
            "handle": Text(s.handle, style="bold"),
            "token": s.token,
            "project": s.project_name,
            "state": Text(event or "-", style=EVENT_STYLE.get(event, "")),
            "active": ago(self.now - s.updated_at) + " ago",
            "last": one_line(s.last_reply or s.last_prompt, 36),
        }

    @property
    def selected(self) -> Session | None:
        key = self.cursor_key
        return self.sessions.get(key) if key else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Selected(self.sessions.get(event.row_key.value or "")))


class SessionDetail(Static):
    """The selected session's last prompt and Claude's last reply."""

    session: reactive[Session | None] = reactive(None)

    def render(self) -> Text:
        s = self.session
        if s is None:
            return Text("No session selected. Sessions appear when Claude Code's hook reports.",
                        style="dim")
        out = Text()
        out.append(f"{s.handle}", style="bold")
        out.append(f" · {s.project or '?'}\n", style="dim")
        out.append(f"tmux {s.tmux_session or '?'} pane {s.pane_id or '-'} · token {s.token}\n\n",
                   style="dim")
        if s.last_prompt:
            out.append("You: ", style="bold cyan")
            out.append(one_line(s.last_prompt, 300) + "\n")
        out.append("Claude: ", style="bold green")
        out.append(redact(s.last_reply or "(nothing yet)").strip()[:1500])
        return out
