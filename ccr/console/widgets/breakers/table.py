"""One row per server: its breaker's state, failures, time to the next probe, last error."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ccr.reliability.breaker import BreakerRecord, BreakerState

STATE_STYLE = {"closed": "bold green", "open": "bold red", "half-open": "bold yellow"}
COLUMNS = (("server", "server"), ("state", "state"), ("failures", "failures"),
           ("next probe", "next"), ("since", "since"), ("last error", "error"))


def countdown(record: BreakerRecord, now: float) -> Text:
    """How long until an open breaker lets its next probe through."""
    if record.state is BreakerState.HALF_OPEN:
        return Text("probing now", style="yellow")
    if record.state is not BreakerState.OPEN or record.next_probe_at is None:
        return Text("-", style="dim")
    left = record.next_probe_at - now
    if left <= 0:
        return Text("due", style="yellow")
    minutes, seconds = divmod(int(left + 0.999), 60)
    return Text(f"in {minutes}:{seconds:02d}" if minutes else f"in {seconds} s", style="bold")


class BreakersTable(DataTable[Any]):
    """Breaker state per configured server; `tick` moves only the countdowns."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.records: dict[str, BreakerRecord] = {}

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, record: BreakerRecord, now: float) -> None:
        """Add or update one server's row."""
        self.records[record.server_id] = record
        state = record.state.value.replace("_", "-")
        since = (time.strftime("%H:%M:%S", time.localtime(record.opened_at))
                 if record.opened_at and record.state is not BreakerState.CLOSED else "-")
        cells: dict[str, Any] = {
            "server": Text(record.server_id, style="bold"),
            "state": Text(state, style=STATE_STYLE.get(state, "")),
            "failures": str(record.failures),
            "next": countdown(record, now),
            "since": since,
            "error": " ".join((record.last_error or "-").split())[:80],
        }
        key = record.server_id
        if key in self.rows:
            for column, value in cells.items():
                self.update_cell(key, column, value)
        else:
            self.add_row(*cells.values(), key=key)

    def tick(self, now: float) -> None:
        for key, record in self.records.items():
            if key in self.rows and record.state is not BreakerState.CLOSED:
                self.update_cell(key, "next", countdown(record, now))
