"""The console app: runs the hub in its own event loop and shows it live.

State flows one way: hub events arrive on the bus, become `HubEvent` messages, and the app
hands them to the widget for that area. The app holds no business rule; sending goes
through the same command service as Telegram and the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header

from ccr.console.messages import HubEvent, HubStopped
from ccr.console.widgets import ActivityLog, SendBar, ServersTable, SessionDetail, SessionsTable
from ccr.errors import CcrError
from ccr.events import (
    BreakerStateChanged,
    CommandChanged,
    ServerStateChanged,
    SessionHealthChanged,
    SessionUpdated,
)
from ccr.hub import Hub
from ccr.models import CommandState


class ConsoleApp(App[CcrError | None]):
    """ccr's operator console."""

    CSS_PATH = "console.tcss"
    TITLE = "ccr"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("slash", "focus_send", "Type"),
        Binding("s", "focus_sessions", "Sessions"),
        Binding("ctrl+l", "clear_log", "Clear log"),
    ]

    def __init__(self, hub: Hub, *, start_http: bool = True,
                 after_start: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.hub = hub
        self.start_http = start_http
        self.after_start = after_start

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield ServersTable(id="servers")
                yield SessionsTable(id="sessions")
            yield SessionDetail(id="detail")
        yield ActivityLog(self.hub.clock, id="activity")
        yield SendBar(id="send")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#servers").border_title = "servers"
        self.query_one("#sessions").border_title = "sessions"
        self.query_one("#detail").border_title = "last exchange"
        self.query_one("#activity").border_title = "activity"
        self.query_one("#send").border_title = "send"
        self.sub_title = "starting…"
        self.query_one(ServersTable).show(self.hub.server_views())
        self.set_interval(10, self._tick)
        self.run_hub()

    def _tick(self) -> None:
        self.query_one(SessionsTable).tick(self.hub.clock())

    @work(exclusive=True, group="hub")
    async def run_hub(self) -> None:
        """Start the hub, show what exists, then pump its events into the UI."""
        async with self.hub.bus.subscribe() as queue:
            try:
                await self.hub.start(http=self.start_http)
            except CcrError as exc:
                self.post_message(HubStopped(exc))
                return
            self._refresh_title()
            if self.after_start is not None:
                self.after_start()
            for session in await self.hub.sessions.live():
                self.query_one(SessionsTable).upsert(session, self.hub.clock())
            while True:
                self.post_message(HubEvent(await queue.get()))

    def on_hub_stopped(self, message: HubStopped) -> None:
        self.exit(message.error)

    def on_hub_event(self, message: HubEvent) -> None:
        event = message.event
        self.query_one(ActivityLog).add_event(event)
        match event:
            case SessionUpdated(session=session) | SessionHealthChanged(session=session):
                self.query_one(SessionsTable).upsert(session, self.hub.clock())
                self._refresh_title()
            case ServerStateChanged(server_id=sid, state=state, detail=detail):
                if not self._breaker_shown(sid):  # an open breaker says more than "up"
                    self.query_one(ServersTable).set_state(sid, state, detail)
                self._refresh_title()
            case BreakerStateChanged(server_id=sid, state="closed"):
                state, detail, _ = self.hub.server_state.get(sid, ("unknown", "", 0.0))
                self.query_one(ServersTable).set_state(sid, state, detail)
            case BreakerStateChanged(server_id=sid, state=state, retry_at=retry_at,
                                     reason=reason):
                when = (time.strftime(" · next try %H:%M:%S", time.localtime(retry_at))
                        if retry_at else "")
                self.query_one(ServersTable).set_state(sid, state.replace("_", "-"),
                                                       f"{reason}{when}")
            case CommandChanged(command=c) if c.state is CommandState.DELIVERED:
                self.notify(f"Typed into {c.handle}", timeout=3)
            case CommandChanged(command=c) if c.state in (CommandState.FAILED,
                                                           CommandState.UNCERTAIN):
                self.notify(c.error_text or "not delivered", title=f"{c.handle}: {c.state.value}",
                            severity="error", timeout=10)

    def _breaker_shown(self, server_id: str) -> bool:
        board = self.hub.breakers
        record = board.states().get(server_id) if board is not None else None
        return record is not None and record.state != "closed"

    def _refresh_title(self) -> None:
        views = self.hub.server_views()
        up = sum(v["state"] == "up" for v in views)
        sessions = len(self.query_one(SessionsTable).sessions)
        telegram = "Telegram on" if self.hub.telegram is not None else "Telegram off"
        where = self.hub.settings.hub.url if self.start_http else "API off"
        self.sub_title = (f"{where} · {up}/{len(views)} servers up · {sessions} session(s) · "
                          f"{telegram}")

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

    async def action_quit(self) -> None:
        self.exit(None)

    async def on_unmount(self) -> None:
        await self.hub.stop()
