"""What every console screen shares: the hub it shows, and a way to be told of hub events."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer

from ccr.console.screens.confirm import ConfirmScreen
from ccr.core.events import Event
from ccr.hub import Hub


class HubScreen(Screen[None]):
    """A screen over one hub. The app calls `hub_event` for every bus event while the
    screen is mounted; a screen re-reads its sources in `on_screen_resume` (when shown)."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub

    def hub_event(self, event: Event) -> None:
        """A hub event arrived; update what depends on it (cheap, synchronous)."""


class OperatorScreen(HubScreen):
    """A screen reached from the main one by a number key; Escape goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.show('main')", "Back"),
    ]
    _reload_timer: Timer | None = None

    def action_reload(self) -> None:
        """Re-read what the screen shows (screens with a list override it)."""

    def reload_soon(self, delay: float) -> None:
        """Re-read once, `delay` s after the first of a burst of events, not once per event."""
        if self._reload_timer is None:
            self._reload_timer = self.set_timer(delay, self._reload_due)

    def _reload_due(self) -> None:
        self._reload_timer = None
        self.action_reload()

    def ask(self, question: str, yes: str, then: Callable[[], object]) -> None:
        """Ask first (a ConfirmScreen); do `then` only on yes."""

        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmScreen(question, yes=yes), answered)
