"""The overview: the whole fleet on one screen, the first one on a terminal of 160x45 or more.

Servers with tmux health and breaker, plots of commands/s, SSH error rate and SSH p95 over
the last hour, active alerts, the dead-letter queue, the latest commands, the live sessions,
and the selected session's pane (captured every second while the overview is shown) beside
its last exchange. Everything comes from the hub's services: the series and breaker states
are in memory and redrawn each second; commands, alerts and dead letters are re-read when a
hub event says they changed. On a small terminal the panels are stacked and scroll.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header

from ccr.console.screens.attaching import start_attach
from ccr.console.screens.base import OperatorScreen
from ccr.console.screens.screenshot import save_screenshot
from ccr.console.widgets.main import SessionDetail, SessionsTable
from ccr.console.widgets.metrics.pane import percent, seconds
from ccr.console.widgets.overview import (
    PaneView,
    Plot,
    Table,
    alert_rows,
    command_rows,
    dead_letter_rows,
    server_rows,
)
from ccr.core.errors import CcrError
from ccr.core.events import (
    AlertAcknowledged,
    AlertFired,
    AlertResolved,
    CommandChanged,
    DeadLetterArchived,
    DeadLetterDelivered,
    DeadLettered,
    DeadLetterRetried,
    DeadLettersPurged,
    Event,
    SessionEnded,
    SessionHealthChanged,
    SessionUpdated,
)
from ccr.core.models import Command, Session

WIDE = (160, 45)
"""The smallest terminal on which the overview is the first screen."""
COMMANDS = 12
DEAD_LETTERS = 6
PANE_LINES = 60
MINUTES = 60


def per_second(v: float) -> str:
    return f"{v:.2f}/s" if v < 10 else f"{v:.0f}/s"


@dataclass(frozen=True)
class Snapshot:
    """What the overview reads from the store in one go."""

    sessions: list[Session]
    commands: list[Command]
    alerts: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]


class OverviewScreen(OperatorScreen[Snapshot]):
    """Everything at once; `a` attaches to the selected session's pane, `s` saves it as a PNG."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["operator.tcss", "overview.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "attach", "Attach"),
        Binding("s", "screenshot", "Screenshot"),
        Binding("r", "reload", "Refresh", show=False),
    ]
    reload_on = (CommandChanged, AlertFired, AlertAcknowledged, AlertResolved, DeadLettered,
                 DeadLetterRetried, DeadLetterDelivered, DeadLetterArchived, DeadLettersPurged)
    settle_s = 0.3
    refresh_every: float | None = 1.0
    pane_shown = 0
    """Pane captures shown so far (tests wait on it)."""
    _capturing = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="ov-body"):
            with Horizontal(id="ov-top", classes="ov-row"):
                yield Table(("server", "kind", "tmux", "breaker", "last hook", "detail"),
                            id="ov-servers")
                yield Table(("id", "state", "where", "fired", "alert"), id="ov-alerts")
                yield Table(("id", "queued", "state", "message", "why"), id="ov-dlq")
            with Horizontal(id="ov-plots", classes="ov-row"):
                yield Plot("commands/s", per_second, colour="cyan", id="plot-commands")
                yield Plot("SSH error rate", percent, colour="red", id="plot-errors")
                yield Plot("SSH p95", seconds, colour="yellow", id="plot-p95")
            with Horizontal(id="ov-work", classes="ov-row"):
                with Vertical(id="ov-left"):
                    yield SessionsTable(id="ov-sessions")
                    yield Table(("at", "session", "state", "took", "text"), id="ov-commands")
                yield PaneView(id="ov-pane")
                yield SessionDetail(id="ov-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        titles = {"#ov-servers": "servers", "#ov-alerts": "active alerts",
                  "#ov-dlq": "dead letters", "#ov-sessions": "sessions",
                  "#ov-commands": "latest commands", "#ov-pane": "pane",
                  "#ov-detail": "last exchange"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one(PaneView).show_note("Select a session (arrow keys) to see its pane.")
        if not self.hub_built:  # the configured servers, as starting, in the first frame
            self.query_one("#ov-servers", Table).replace(
                server_rows(self.server_views(), 0.0))
        self._layout(self.app.size.width, self.app.size.height)
        self.query_one(SessionsTable).focus()

    def on_resize(self, event: events.Resize) -> None:
        self._layout(event.size.width, event.size.height)

    def _layout(self, width: int, height: int) -> None:
        """Side by side on a big terminal, stacked (and scrolling) on a small one."""
        self.set_class(width < WIDE[0] or height < WIDE[1], "-stacked")

    # --- reading ---------------------------------------------------------------------------

    def reload(self) -> None:
        """Nothing to read before the hub runs (the app asks again once it does)."""
        if self.hub_ready:
            super().reload()

    async def load(self) -> Snapshot:
        from ccr.services.dead_letters import view as dead_letter_view
        from ccr.telemetry.alerts import view as alert_view

        hub = self.hub
        alerts = [alert_view(a) for a in await hub.alerts.active()]
        letters = [dead_letter_view(e, hub.dlq.schedule) for e in await hub.dlq.list()]
        return Snapshot(await hub.sessions.live(), await hub.commands.recent(COMMANDS),
                        alerts, letters)

    def show(self, data: Snapshot) -> None:
        now = self.hub.clock()
        sessions = self.query_one(SessionsTable)
        for session in data.sessions:
            sessions.upsert(session, now)
        self.query_one("#ov-commands", Table).replace(command_rows(data.commands, now))
        alerts = self.query_one("#ov-alerts", Table)
        alerts.replace(alert_rows(data.alerts, now))
        firing = sum(a["state"] == "firing" for a in data.alerts)
        alerts.border_title = (f"active alerts ({len(data.alerts)}, {firing} firing)"
                               if data.alerts else "active alerts: none")
        dlq = self.query_one("#ov-dlq", Table)
        dlq.replace(dead_letter_rows(data.dead_letters, now)[:DEAD_LETTERS])
        dlq.border_title = (f"dead letters ({len(data.dead_letters)}, newest first)"
                            if data.dead_letters else "dead letters: the queue is empty")
        self._redraw()

    def _redraw(self) -> None:
        """The in-memory parts: servers and breakers, and the plots."""
        self.query_one("#ov-servers", Table).replace(
            server_rows(self.hub.server_views(), self.hub.clock()))
        metrics = self.hub.metrics
        if metrics is None:
            for plot in self.query(Plot):
                plot.border_subtitle = "metrics off"
            return
        series = metrics.series
        figures: dict[str, tuple[str, str]] = {
            "#plot-commands": ("commands", per_second(
                (series.window("commands", None, 1) or 0.0) / 60) + " over 1m"),
            "#plot-errors": ("error_rate", percent(series.window("error_rate", None, 5))
                             + " over 5m"),
            "#plot-p95": ("ssh_p95", seconds(series.window("ssh_p95", None, 5)) + " over 5m"),
        }
        for plot_id, (name, now) in figures.items():
            plot = self.query_one(plot_id, Plot)
            plot.points = [v for _, v in series.series(name, None, MINUTES)]
            plot.border_subtitle = f"now {now}"

    def tick(self) -> None:
        """Each second: plots and servers redrawn, the selected pane captured again."""
        if not self.hub_built:
            return
        self._redraw()
        self.capture()

    # --- sessions and their pane ---------------------------------------------------------

    def hub_event(self, event: Event) -> None:
        super().hub_event(event)
        match event:
            case (SessionUpdated(session=session) | SessionHealthChanged(session=session)
                  | SessionEnded(session=session)):
                self.query_one(SessionsTable).upsert(session, self.hub.clock())

    def on_sessions_table_selected(self, message: SessionsTable.Selected) -> None:
        detail = self.query_one(SessionDetail)
        changed = (detail.session is None or message.session is None
                   or detail.session.id != message.session.id)
        detail.session = message.session
        if changed:
            self.capture()

    @property
    def session_count(self) -> int:
        tables = self.query(SessionsTable)
        return len(tables.first().sessions) if tables else 0

    @property
    def selected(self) -> Session | None:
        tables = self.query(SessionsTable)
        return tables.first().selected if tables else None

    def capture(self) -> None:
        """The selected session's pane, read through the executor (one capture at a time)."""
        session = self.selected
        if session is None or self._capturing or not self.is_current:
            return
        self._capturing = True

        async def read() -> str:
            try:
                return await self.hub.executor.capture(session, PANE_LINES)
            finally:
                self._capturing = False

        def shown(text: str) -> None:
            current = self.selected
            views = self.query(PaneView)  # none while the console closes
            if views and current is not None and current.id == session.id:
                views.first().show_text(session.handle, text)
                self.pane_shown += 1

        def failed(error: CcrError) -> None:
            views = self.query(PaneView)
            if views:
                views.first().show_note(f"{session.handle}: {error.message}")
                self.pane_shown += 1

        self.fetch(read, shown, group="pane", failed=failed)

    def on_screen_suspend(self) -> None:
        super().on_screen_suspend()
        self._capturing = False  # a capture cut short by leaving does not block the next

    def action_attach(self) -> None:
        if self.need_hub():
            start_attach(self, self.hub, self.selected)

    def action_screenshot(self) -> None:
        if self.need_hub():
            save_screenshot(self, self.hub, self.selected)
