"""What every console screen shares: the hub it shows, and a way to be told of hub events."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen

from ccr.events import Event
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
