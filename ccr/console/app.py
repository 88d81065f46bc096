"""The console app: runs the hub in its own event loop and shows it live.

State flows one way: hub events arrive on the bus, become `HubEvent` messages, and the app
hands each to every screen that is mounted. The app holds no business rule and no layout:
the main screen and the operator screens (metrics, breakers, dead letters, alerts, traces)
live in `ccr.console.screens`, one mode each, switched by the number keys. The header leads
with the hub's health (GREEN / YELLOW / RED), re-read on every hub event and every 10 s (an
error rate moves with the time series, not only with events).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.css.query import NoMatches

from ccr.console.messages import HubEvent, HubStopped
from ccr.console.palette import ConsoleCommands
from ccr.console.screens.base import HubScreen, OperatorScreen
from ccr.console.screens.main import MainScreen
from ccr.console.screens.overview import WIDE, OverviewScreen
from ccr.core.durations import duration
from ccr.core.errors import CcrError
from ccr.core.events import CommandChanged, Event
from ccr.core.models import CommandState
from ccr.core.redact import redact
from ccr.telemetry.health import Level

if TYPE_CHECKING:
    from ccr.core.config import Settings
    from ccr.hub import Hub

SCREENS = {"metrics": "MetricsScreen", "breakers": "BreakersScreen",
           "dead_letters": "DeadLettersScreen", "alerts": "AlertsScreen",
           "traces": "TracesScreen", "history": "HistoryScreen", "audit": "AuditScreen"}
"""The screens built (and their modules imported) when first shown, by mode name."""


class Views(dict[str, HubScreen]):
    """The app's screens by mode name; one not shown yet is built when first asked for."""

    def __missing__(self, name: str) -> HubScreen:
        cls = getattr(importlib.import_module("ccr.console.screens"), SCREENS[name])
        screen: HubScreen = cls()
        self[name] = screen
        return screen


LEVEL_STYLE = {Level.GREEN: "bold green", Level.YELLOW: "bold yellow", Level.RED: "bold red"}
HEALTH_REFRESH_S = 10.0


class ConsoleApp(App[CcrError | None]):
    """ccr's operator console."""

    TITLE = "ccr"
    DEFAULT_MODE = "main"
    COMMANDS: ClassVar[set[Any]] = {ConsoleCommands}  # ctrl+p: sessions, servers, actions
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("0", "show('overview')", "Overview"),
        Binding("1", "show('main')", "Main"),
        Binding("2", "show('metrics')", "Metrics"),
        Binding("3", "show('breakers')", "Breakers"),
        Binding("4", "show('dead_letters')", "DLQ"),
        Binding("5", "show('alerts')", "Alerts"),
        Binding("6", "show('traces')", "Traces"),
        Binding("7", "show('history')", "History"),
        Binding("8", "show('audit')", "Audit"),
    ]

    def __init__(self, hub: Hub | None = None, *, build_hub: Callable[[], Hub] | None = None,
                 settings: Settings | None = None, start_http: bool = True,
                 after_start: Callable[[], None] | None = None,
                 before_stop: Callable[[], Awaitable[None]] | None = None) -> None:
        """`hub`, or `build_hub` to make it after the first screen is painted (`ccr console`:
        importing the hub and its services takes longer than painting); `settings` lets the
        first screen list the configured servers before the hub exists."""
        super().__init__()
        if hub is None and build_hub is None:
            raise ValueError("ConsoleApp needs a hub or a way to build one")
        self.hub: Hub | None = hub
        self._build_hub = build_hub
        self.settings = settings  # read only until the hub is built
        self.start_http = start_http
        self.after_start = after_start
        self.before_stop = before_stop  # while the hub still runs (the demo ends its agent)
        self.started = False  # the hub runs and the sessions it knew are shown
        self.events_posted = self.events_handled = 0
        self._events: asyncio.Queue[Event] | None = None
        self.main = MainScreen()
        self.overview = OverviewScreen()
        self.views = Views(overview=self.overview, main=self.main)
        for name in ("overview", "main", *SCREENS):
            self.add_mode(name, lambda name=name: self.views[name])  # type: ignore[misc]

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Compose) and self.first_mode() == "overview":
            # The first screen, chosen once the terminal's size is known and before any
            # screen is mounted (DEFAULT_MODE is read earlier, in App.__init__).
            self._screen_stacks = {"overview": []}
            self._current_mode = "overview"
        await super().on_event(event)

    def first_mode(self) -> str:
        """The overview on a terminal of at least 160x45, the main screen on a smaller one."""
        wide = self.size.width >= WIDE[0] and self.size.height >= WIDE[1]
        return "overview" if wide else "main"

    def on_mount(self) -> None:
        self.sub_title = "starting…"
        self.set_interval(HEALTH_REFRESH_S, self._refresh_title)
        self.call_after_refresh(self.run_hub)  # the first screen is painted before the hub starts

    @work(exclusive=True, group="hub")
    async def run_hub(self) -> None:
        """Build the hub if need be, start it, show what exists, then pump its events in."""
        if self.hub is None:
            assert self._build_hub is not None
            # imported in a thread (the screen stays live), built here on the loop
            await asyncio.to_thread(importlib.import_module, "ccr.hub")
            try:
                self.hub = self._build_hub()
            except CcrError as exc:
                self.post_message(HubStopped(exc))
                return
        hub = self.hub
        async with hub.bus.subscribe() as queue:
            try:
                await hub.start(http=self.start_http)
            except CcrError as exc:
                self.post_message(HubStopped(exc))
                return
            self._refresh_title()
            if self.after_start is not None:
                self.after_start()
            if self.main.is_mounted:
                self.main.hub_started(await hub.sessions.live())
            for screen in list(self.views.values()):  # shown while the hub was starting
                if isinstance(screen, OperatorScreen) and screen.is_mounted:
                    screen.reload()
            self._refresh_title()
            self._events = queue
            self.started = True
            while True:
                self.post_message(HubEvent(await queue.get()))
                self.events_posted += 1

    def on_hub_stopped(self, message: HubStopped) -> None:
        self.exit(message.error)

    @property
    def events_settled(self) -> bool:
        """Every hub event published so far is shown on the mounted screens (tests wait on
        this rather than on a screen's rows)."""
        queue = self._events
        return (self.started and queue is not None and queue.empty()
                and self.events_handled == self.events_posted)

    def on_hub_event(self, message: HubEvent) -> None:
        self.events_handled += 1
        event = message.event
        for screen in self.views.values():
            if screen.is_mounted:
                try:
                    screen.hub_event(event)
                except NoMatches:  # the screen's widgets are going (the console is closing)
                    continue
        self._refresh_title()
        match event:
            case CommandChanged(command=c) if c.state is CommandState.EXECUTING:
                self.notify(f"Typed into {c.handle}", timeout=3)
            case CommandChanged(command=c) if c.state in (CommandState.FAILED,
                                                           CommandState.UNCERTAIN):
                self.notify(c.error_text or "not delivered", title=f"{c.handle}: {c.state.value}",
                            severity="error", timeout=10)
            case CommandChanged(command=c) if (c.state is CommandState.COMPLETED
                                               and c.source == "console"):
                self.notify(redact(" ".join((c.reply or "(no text reply)").split()))[:200],
                            title=f"{c.handle} answered in {duration(c.duration)}", timeout=6)
            case CommandChanged(command=c) if c.state is CommandState.TIMEOUT:
                self.notify(c.error_text or "no answer", title=f"{c.handle}: timeout",
                            severity="warning", timeout=10)

    def _refresh_title(self) -> None:
        hub = self.hub
        if hub is None or not hub.ready:
            return  # "starting…" until the hub runs
        level = hub.health().level
        views = hub.server_views()
        down = set(hub.unavailable())  # a server behind an open breaker is not "up"
        up = sum(v["state"] == "up" and v["id"] not in down for v in views)
        sessions = max((v.session_count for v in (self.main, self.overview) if v.is_mounted),
                       default=0)
        telegram = "Telegram on" if hub.telegram is not None else "Telegram off"
        where = hub.settings.hub.url if self.start_http else "API off"
        self.sub_title = (f"{level.name} · {where} · {up}/{len(views)} servers up · "
                          f"{sessions} session(s) · {telegram}")

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header: the title, then the sub-title with its health level in colour."""
        head, sep, rest = sub_title.partition(" · ")
        if head not in Level.__members__:
            return super().format_title(title, sub_title)
        return Content.assemble(title, (" — ", "dim"), (head, LEVEL_STYLE[Level[head]]),
                                (sep + rest, "dim"))

    def action_show(self, name: str) -> None:
        """Switch to a screen by name ("main", "metrics", "breakers", ...). The overview and
        the main screen show while the hub starts; the others read it as they are built."""
        if name in SCREENS and (self.hub is None or not self.hub.ready):
            self.notify("The hub is still starting; this screen opens once it runs.",
                        severity="warning")
            return
        self.switch_mode(name)

    async def action_quit(self) -> None:
        self.exit(None)

    async def on_unmount(self) -> None:
        if self.before_stop is not None and self.started:
            await self.before_stop()
        if self.hub is not None:
            await self.hub.stop()
