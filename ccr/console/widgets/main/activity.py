"""A running log of what the hub does: notifications, commands, servers, warnings."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widgets import RichLog

from ccr.core.events import Event
from ccr.telemetry.logsink import describe

LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": ""}


class ActivityLog(RichLog):
    """Hub events as timestamped lines; newest at the bottom."""

    def __init__(self, clock: Callable[[], float], **kwargs: object) -> None:
        super().__init__(max_lines=2000, wrap=True, markup=False, **kwargs)  # type: ignore[arg-type]
        self.clock = clock

    def add_event(self, event: Event) -> None:
        line = describe(event)
        if line is None:
            return
        level, text = line
        stamp = time.strftime("%H:%M:%S", time.localtime(self.clock()))
        self.write(Text.assemble((stamp + " ", "dim"), (text, LEVEL_STYLE.get(level, ""))))
