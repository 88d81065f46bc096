"""What every console screen shares: the hub it shows, and a way to be told of hub events.

An operator screen says only what it shows; `OperatorScreen` does the rest: re-read on being
shown, on the hub events it names (at once or after a settle time) and on a timer that runs
only while the screen is shown. One read runs at a time: a re-read asked for meanwhile runs
right after it (never cancelling it, so a busy hub cannot starve the screen), and `settled`
counts the reads shown, so a test or a tool can wait for "what I just wrote is on screen".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker

from ccr.console.screens.confirm import ConfirmScreen
from ccr.core import views
from ccr.core.errors import CcrError
from ccr.core.events import Event

if TYPE_CHECKING:
    from ccr.hub import Hub

T = TypeVar("T")
R = TypeVar("R")


class HubScreen(Screen[None]):
    """A screen over one hub. The app calls `hub_event` for every bus event while the
    screen is mounted; a screen re-reads its sources in `on_screen_resume` (when shown).

    The hub is the app's (or the one given): `ccr console` paints the first screen before
    the hub is built, so what runs that early asks `hub_built` / `hub_ready` first."""

    def __init__(self, hub: Hub | None = None) -> None:
        super().__init__()
        self._hub = hub

    def _hub_or_none(self) -> Hub | None:
        if self._hub is not None:
            return self._hub
        hub: Hub | None = getattr(self.app, "hub", None)
        return hub

    @property
    def hub(self) -> Hub:
        hub = self._hub_or_none()
        if hub is None:
            raise RuntimeError("the console's hub is not built yet")
        return hub

    @property
    def hub_built(self) -> bool:
        """The hub exists (its settings, servers and breakers can be read)."""
        return self._hub_or_none() is not None

    @property
    def hub_ready(self) -> bool:
        """The hub runs (its database and services answer)."""
        hub = self._hub_or_none()
        return hub is not None and hub.ready

    def server_views(self) -> list[dict[str, Any]]:
        """The hub's servers; before the hub exists, the configured ones, as starting."""
        if self.hub_built:
            return self.hub.server_views()
        settings = getattr(self.app, "settings", None)
        if settings is None:
            return []
        return [views.server(s, ("starting", "the hub is starting", 0.0))
                for s in settings.servers]

    def need_hub(self) -> bool:
        """For an action: True when the hub runs, else say it is starting."""
        if self.hub_ready:
            return True
        self.notify("The hub is still starting; try again in a moment.", severity="warning")
        return False

    def hub_event(self, event: Event) -> None:
        """A hub event arrived; update what depends on it (cheap, synchronous)."""


class OperatorScreen(HubScreen, Generic[T]):
    """A screen reached from the main one by a number key; Escape goes back.

    A subclass gives `load` (read, in a worker) and `show` (put it on screen), or overrides
    `reload` when its source is in memory and is shown at once; the class attributes below
    say what else re-reads it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.show('main')", "Back"),
    ]
    reload_on: ClassVar[tuple[type[Event], ...]] = ()
    """Hub events after which the screen re-reads what it shows."""
    settle_s: ClassVar[float] = 0.0
    """Re-read this long after the first of a burst of `reload_on` events (0: at once)."""
    refresh_every: float | None = None
    """Seconds between calls of `tick` while the screen is shown (None: no timer)."""
    _ticker: Timer | None = None
    _reload_timer: Timer | None = None
    requested: int = 0
    """Re-reads asked for so far (each `reload` call counts one)."""
    settled: int = 0
    """The newest re-read whose result is on screen: `settled >= n` means everything the
    hub held when re-read `n` was asked for is shown (see `reload_and_settle`)."""
    _loading: bool = False
    _again: bool = False

    async def load(self) -> T:
        """Read what the screen shows (runs in a worker)."""
        raise NotImplementedError

    def show(self, data: T) -> None:
        """Put what `load` read on the screen."""

    def reload(self) -> None:
        """Re-read what the screen shows: `load` in a worker, then `show` unless the screen
        went away meanwhile. Asked while a read runs, it runs once more right after it."""
        self.requested += 1
        if self._loading:
            self._again = True
            return
        self._loading = True
        self.run_worker(self._read_and_show(self.requested), group="reload")

    async def _read_and_show(self, seq: int) -> None:
        try:
            try:
                data = await self.load()
            except CcrError as exc:
                if self.is_attached:
                    self.load_failed(exc)
            else:
                if self.is_attached:
                    self.show(data)
            self.settled = max(self.settled, seq)
        finally:
            self._loading = False
        if self._again and self.is_attached:
            self._again = False
            self.reload()

    def mark_settled(self) -> None:
        """For a screen whose `reload` shows in-memory state at once: it is shown now."""
        self.requested += 1
        self.settled = self.requested

    def reload_and_settle(self) -> int:
        """Ask for a re-read and return its number: once `settled` reaches it, the screen
        shows everything the hub held at this call."""
        self.reload()
        return self.requested

    def load_failed(self, error: CcrError) -> None:
        """`load` raised a CcrError: say so (the screen keeps what it showed)."""
        self.say(error)

    def say(self, error: CcrError) -> None:
        """A read failed: its plain message as an error notification."""
        self.notify(error.message, severity="error")

    def tick(self) -> None:
        """What the `refresh_every` timer does: re-read everything, unless overridden."""
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()
        if self._ticker is not None:
            self._ticker.resume()
        elif self.refresh_every is not None:
            self._ticker = self.set_interval(self.refresh_every, self.tick)

    def on_screen_suspend(self) -> None:
        if self._ticker is not None:
            self._ticker.pause()

    def hub_event(self, event: Event) -> None:
        if isinstance(event, self.reload_on):
            if self.settle_s:
                self.reload_soon(self.settle_s)
            else:
                self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload_soon(self, delay: float) -> None:
        """Re-read once, `delay` s after the first of a burst of events, not once per event."""
        if self._reload_timer is None:
            self._reload_timer = self.set_timer(delay, self._reload_due)

    def _reload_due(self) -> None:
        self._reload_timer = None
        self.reload()

    def fetch(self, read: Callable[[], Awaitable[R]], show: Callable[[R], None], *, group: str,
              failed: Callable[[CcrError], None] | None = None) -> Worker[None]:
        """`read()` in a worker (a newer one in `group` replaces it), its result to `show`;
        a CcrError goes to `failed` (default: a notification)."""

        async def read_then_show() -> None:
            try:
                data = await read()
            except CcrError as exc:
                if self.is_attached:
                    (failed or self.say)(exc)
                return
            if self.is_attached:  # not when the screen went away (the console is closing)
                show(data)

        return self.run_worker(read_then_show, group=group, exclusive=True)

    def ask(self, question: str, yes: str, then: Callable[[], object]) -> None:
        """Ask first (a ConfirmScreen); do `then` only on yes."""

        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmScreen(question, yes=yes), answered)
