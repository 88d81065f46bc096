"""Textual messages the console passes around: hub events arrive as `HubEvent`."""

from __future__ import annotations

from textual.message import Message

from ccr.core.errors import CcrError
from ccr.core.events import Event


class HubEvent(Message):
    """An event from the hub's bus, delivered on the app's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class HubStopped(Message):
    """The hub failed to start or stopped; `error` says why when there is one."""

    def __init__(self, error: CcrError | None) -> None:
        super().__init__()
        self.error = error
