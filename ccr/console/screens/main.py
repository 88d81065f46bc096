"""The main screen: servers and sessions, the selected session's last exchange, the activity
log and the send bar."""

from __future__ import annotations

import time
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header

from ccr.console.screens.base import HubScreen
from ccr.console.widgets.main import (
    ActivityLog,
    SendBar,
    ServersTable,
    SessionDetail,
    SessionsTable,
)
from ccr.core.events import (
    BreakerStateChanged,
    Event,
    ServerStateChanged,
    SessionHealthChanged,
    SessionUpdated,
)
from ccr.core.models import Session


class MainScreen(HubScreen):
    """Servers, sessions and the activity log; type into the selected session."""

    CSS_PATH = "main.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_send", "Type"),
        Binding("s", "focus_sessions", "Sessions"),
        Binding("ctrl+l", "clear_log", "Clear log", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield ServersTable(id="servers")
                yield SessionsTable(id="sessions")
            yield SessionDetail(id="detail")
        yield ActivityLog(self.hub.clock, id="activity")
        yield SendBar(id="send")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#servers").border_title = "servers"
        self.query_one("#sessions").border_title = "sessions"
        self.query_one("#detail").border_title = "last exchange"
        self.query_one("#activity").border_title = "activity"
        self.query_one("#send").border_title = "send"
        self.query_one(ServersTable).show(self.hub.server_views())
        self.set_interval(10, self._tick)

    def _tick(self) -> None:
        self.query_one(SessionsTable).tick(self.hub.clock())

    def show_sessions(self, sessions: list[Session]) -> None:
        for session in sessions:
            self.query_one(SessionsTable).upsert(session, self.hub.clock())

    @property
    def session_count(self) -> int:
        return len(self.query_one(SessionsTable).sessions)

    def hub_event(self, event: Event) -> None:
        self.query_one(ActivityLog).add_event(event)
        match event:
            case SessionUpdated(session=session) | SessionHealthChanged(session=session):
                self.query_one(SessionsTable).upsert(session, self.hub.clock())
            case ServerStateChanged(server_id=sid, state=state, detail=detail):
                if not self._breaker_shown(sid):  # an open breaker says more than "up"
                    self.query_one(ServersTable).set_state(sid, state, detail)
            case BreakerStateChanged(server_id=sid, state="closed"):
                state, detail, _ = self.hub.server_state.get(sid, ("unknown", "", 0.0))
                self.query_one(ServersTable).set_state(sid, state, detail)
            case BreakerStateChanged(server_id=sid, state=state, retry_at=retry_at,
                                     reason=reason):
                when = (time.strftime(" · next try %H:%M:%S", time.localtime(retry_at))
                        if retry_at else "")
                self.query_one(ServersTable).set_state(sid, state.replace("_", "-"),
                                                       f"{reason}{when}")

    def _breaker_shown(self, server_id: str) -> bool:
        board = self.hub.breakers
        record = board.states().get(server_id) if board is not None else None
        return record is not None and record.state != "closed"

    def on_sessions_table_selected(self, message: SessionsTable.Selected) -> None:
        self.query_one(SessionDetail).session = message.session
        self.query_one(SendBar).target(message.session)

    def on_send_bar_send(self, message: SendBar.Send) -> None:
        self.send_text(message.session.id, message.text)

    @work(group="send")
    async def send_text(self, session_id: int, text: str) -> None:
        await self.hub.commands.submit(text=text, session_id=session_id, source="console")

    def action_focus_send(self) -> None:
        self.query_one(SendBar).focus()

    def action_focus_sessions(self) -> None:
        self.query_one(SessionsTable).focus()

    def action_clear_log(self) -> None:
        self.query_one(ActivityLog).clear()
