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

from ccr.console.screens.attaching import start_attach
from ccr.console.screens.base import HubScreen
from ccr.console.screens.confirm import ConfirmScreen
from ccr.console.screens.new_session import NewSessionScreen
from ccr.console.screens.screenshot import save_screenshot
from ccr.console.widgets.main import (
    ActivityLog,
    SendBar,
    ServersTable,
    SessionDetail,
    SessionsTable,
)
from ccr.core.errors import CcrError
from ccr.core.events import (
    BreakerStateChanged,
    Event,
    ServerStateChanged,
    SessionEnded,
    SessionHealthChanged,
    SessionUpdated,
)
from ccr.core.models import Session


class MainScreen(HubScreen):
    """Servers, sessions and the activity log; type into the selected session."""

    CSS_PATH = "main.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_send", "Type"),
        Binding("l", "focus_sessions", "Sessions"),
        Binding("s", "screenshot", "Screenshot"),
        Binding("n", "new_session", "New"),
        Binding("x", "stop_session", "Stop"),
        Binding("a", "attach", "Attach"),
        Binding("ctrl+l", "clear_log", "Clear log", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield ServersTable(id="servers")
                yield SessionsTable(id="sessions")
            yield SessionDetail(id="detail")
        yield ActivityLog(lambda: self.hub.clock(), id="activity")
        yield SendBar(id="send")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#servers").border_title = "servers"
        self.query_one("#sessions").border_title = "sessions"
        self.query_one("#detail").border_title = "last exchange"
        self.query_one("#activity").border_title = "activity"
        self.query_one("#send").border_title = "send"
        # before the hub is built, the configured servers as "starting" (`hub_started`)
        self.query_one(ServersTable).show(self.server_views())
        self.set_interval(10, self._tick)
        if getattr(self.app, "started", False):  # first shown after the overview
            self.run_worker(self._load_sessions(), group="sessions")

    async def _load_sessions(self) -> None:
        self.show_sessions(await self.hub.sessions.live())

    def hub_started(self, sessions: list[Session]) -> None:
        """The hub runs: its servers and the sessions it knew."""
        self.query_one(ServersTable).show(self.hub.server_views())
        self.show_sessions(sessions)

    def _tick(self) -> None:
        if self.hub_built:
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
            case (SessionUpdated(session=session) | SessionHealthChanged(session=session)
                  | SessionEnded(session=session)):
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
        if self.need_hub():
            self.send_text(message.session.id, message.text)

    @work(group="send")
    async def send_text(self, session_id: int, text: str) -> None:
        from ccr.services.audit import CONSOLE

        async with self.hub.audit.acting(CONSOLE, "cmd", text):
            await self.hub.commands.submit(text=text, session_id=session_id, source="console")

    def action_focus_send(self) -> None:
        self.query_one(SendBar).focus()

    def action_focus_sessions(self) -> None:
        self.query_one(SessionsTable).focus()

    def action_attach(self) -> None:
        if self.need_hub():
            start_attach(self, self.hub, self.query_one(SessionsTable).selected)

    def action_clear_log(self) -> None:
        self.query_one(ActivityLog).clear()

    # --- s: the selected session's pane saved as a PNG (ccr.services.screens) -------------

    def action_screenshot(self) -> None:
        if self.need_hub():
            save_screenshot(self, self.hub, self.query_one(SessionsTable).selected)

    # --- n: start Claude, x: stop it (ccr.services.session_control) -----------------------

    def action_new_session(self) -> None:
        if not self.need_hub():
            return

        async def recent(server: str) -> list[str]:
            return [path for _, path in await self.hub.control.recent_dirs(server)]

        servers = self.hub.control.server_ids()
        if not servers:
            self.notify("No server in ccr.toml to start Claude on.", severity="warning")
            return
        self.app.push_screen(NewSessionScreen(servers, recent), self._start_chosen)

    def _start_chosen(self, chosen: tuple[str, str] | None) -> None:
        if chosen is not None:
            self.start_session(*chosen)

    @work(group="control")
    async def start_session(self, server: str, directory: str) -> None:
        from ccr.services.audit import CONSOLE

        self.notify(f"Starting Claude on {server} in {directory}…", timeout=3)
        async with self.hub.audit.acting(CONSOLE, "new", f"start on {server} in {directory}"):
            result = await self.hub.control.start(server, directory)
        if result.session is not None:
            s = result.session
            self.notify(f"{s.project_name} on {s.server_id}, in {result.seconds:.1f} s",
                        title=f"Started {s.handle}", timeout=6)
            return
        err = result.error or CcrError("internal", detail="no session")
        lines = "\n".join(result.screen.splitlines()[-4:])
        self.notify(err.message + (f"\n{lines}" if lines else ""), title="Not started",
                    severity="error", timeout=15)

    def action_stop_session(self) -> None:
        if not self.need_hub():
            return
        session = self.query_one(SessionsTable).selected
        if session is None:
            self.notify("Select a session first (arrow keys in the sessions table).",
                        severity="warning")
            return
        question = (f"Stop {session.handle} · {session.project_name} on {session.server_id}? "
                    "Claude gets Escape and /exit; its pane is closed if it lingers.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.stop_session(session.token)

        self.app.push_screen(ConfirmScreen(question, yes="Stop"), answered)

    @work(group="control")
    async def stop_session(self, token: str) -> None:
        from ccr.services.audit import CONSOLE

        try:
            async with self.hub.audit.acting(CONSOLE, "stop", f"stop {token}"):
                result = await self.hub.control.stop(token)
        except CcrError as exc:
            self.notify(exc.message, title="Not stopped", severity="error", timeout=10)
            return
        if result is not None:
            self.notify(f"{result.session.handle} stopped ({result.how}).", timeout=5)
