"""The active alerts: which rule, on which server, since when, firing or acknowledged, why."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from ccr.console.widgets.keyed import KeyedTable
from ccr.core.durations import ago

STATE_STYLE = {"firing": "bold red", "acknowledged": "yellow", "resolved": "green"}
COLUMNS = (("#", "id"), ("rule", "rule"), ("server", "server"), ("since", "since"),
           ("state", "state"), ("value", "value"), ("message", "message"))


def since(fired_at: float, now: float) -> str:
    """When an alert fired, and how long ago."""
    return f"{time.strftime('%H:%M:%S', time.localtime(fired_at))} ({ago(now - fired_at)})"


def value_text(rule: str, value: float | None) -> str:
    """The figure that made the rule fire, in the rule's unit."""
    if value is None:
        return "-"
    match rule:
        case "error_rate":
            return f"{value * 100:.0f} %"
        case "ssh_p95":
            return f"{value:.1f} s"
        case "breaker_open":
            return f"{value:.0f} failures"
        case _:
            return f"{value:g}"


class AlertsTable(KeyedTable):
    """Rows are `ccr.telemetry.alerts.view` dicts keyed by alert id; `show` replaces the list."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alerts: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, alerts: list[dict[str, Any]], now: float) -> None:
        """Show exactly these alerts, updating rows in place (the cursor stays put)."""
        wanted = {str(a["id"]): a for a in alerts}
        for key in [k for k in self.alerts if k not in wanted]:
            self.remove_row(key)
        for key, alert in wanted.items():
            cells = self._cells(alert, now)
            if key in self.alerts:
                for column, value in cells.items():
                    self.update_cell(key, column, value)
            else:
                self.add_row(*cells.values(), key=key)
        self.alerts = wanted

    @staticmethod
    def _cells(a: dict[str, Any], now: float) -> dict[str, Any]:
        return {
            "id": str(a["id"]),
            "rule": Text(a["rule"], style="bold"),
            "server": a["server"] or Text("hub", style="dim"),
            "since": since(a["fired_at"], now),
            "state": Text(a["state"], style=STATE_STYLE.get(a["state"], "")),
            "value": value_text(a["rule"], a["value"]),
            "message": " ".join(str(a["message"]).split())[:100],
        }

    def tick(self, now: float) -> None:
        """Move only the "since" column (how long ago each alert fired)."""
        for key, alert in self.alerts.items():
            if key in self.rows:
                self.update_cell(key, "since", since(alert["fired_at"], now))

    @property
    def selected(self) -> dict[str, Any] | None:
        return self.alerts.get(self.cursor_key or "")
