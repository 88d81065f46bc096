"""Alerts: what the alert rules raised and has not resolved, firing or acknowledged.

The list is re-read whenever an alert fires, is acknowledged or resolves; `a` acknowledges the
selected one (after asking), through the same alert service as `/alerts`, `ccr alerts ack` and
the API, as "console".
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from ccr.console.screens.base import OperatorScreen
from ccr.console.widgets.alerts import AlertsTable, since, value_text
from ccr.core.errors import CcrError
from ccr.core.events import AlertAcknowledged, AlertFired, AlertResolved
from ccr.services.audit import CONSOLE
from ccr.telemetry.alerts import RULES, cooldown_s, view

CHANGES = (AlertFired, AlertAcknowledged, AlertResolved)
ACKED_BY = "console"


class AlertsScreen(OperatorScreen[list[dict[str, Any]]]):
    """The active alerts, live, with an acknowledgement by hand."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["operator.tcss", "alerts.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "Ack"),
    ]
    reload_on = CHANGES
    refresh_every = 10.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="explain", classes="explain")
        yield AlertsTable(id="alerts")
        yield Static(id="alert-detail")
        yield Static("No active alerts: every rule's condition is clear.", id="empty",
                     classes="empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(AlertsTable).border_title = "alerts"
        cfg = self.hub.settings.alerts
        explain = self.query_one("#explain", Static)
        if not cfg.enabled:
            explain.update("Alerts are off ([alerts] enabled = false in ccr.toml): no rule is "
                           "evaluated. a: acknowledge the selected one.")
        else:
            explain.update(
                f"The rules run every {cfg.interval_s:g} s. A firing alert is sent to the "
                f"admins again once per cooldown; an acknowledged one stays quiet until it "
                f"resolves and fires again. a: acknowledge the selected one.")

    async def load(self) -> list[dict[str, Any]]:
        return [view(a) for a in await self.hub.alerts.active()]

    def show(self, views: list[dict[str, Any]]) -> None:
        table = self.query_one(AlertsTable)
        table.show(views, self.hub.clock())
        table.border_title = f"alerts ({len(views)})"
        table.display = bool(views)
        self.query_one("#alert-detail").display = bool(views)
        self.query_one("#empty").display = not views
        self._show_detail(table.selected)

    def tick(self) -> None:
        """Only the "since" column moves between events."""
        self.query_one(AlertsTable).tick(self.hub.clock())

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(self.query_one(AlertsTable).selected)

    def _show_detail(self, alert: dict[str, Any] | None) -> None:
        """The highlighted alert in full: its message, figure and who acknowledged it."""
        detail = self.query_one("#alert-detail", Static)
        if alert is None:
            detail.update("")
            return
        where = alert["server"] or "the hub"
        cooldown = cooldown_s(alert["rule"], self.hub.settings.alerts)
        if alert["state"] == "acknowledged":
            state = (f"acknowledged by {alert['acknowledged_by']} at "
                     f"{since(alert['acknowledged_at'], self.hub.clock())}")
        else:
            state = f"firing, repeated every {cooldown / 60:g} min until acknowledged"
        detail.border_title = f"alert {alert['id']}: {RULES.get(alert['rule'], alert['rule'])}"
        detail.update(f"{alert['message']}\n{where} · {value_text(alert['rule'], alert['value'])}"
                      f" · fired {since(alert['fired_at'], self.hub.clock())} · {state}")

    def action_acknowledge(self) -> None:
        alert = self.query_one(AlertsTable).selected
        if alert is None:
            self.notify("Nothing to acknowledge: no alert is active.", severity="warning")
            return
        if alert["state"] == "acknowledged":
            self.notify(f"Alert {alert['id']} is already acknowledged by "
                        f"{alert['acknowledged_by']}.", severity="warning")
            return
        where = f" on {alert['server']}" if alert["server"] else ""
        self.ask(f"Acknowledge alert {alert['id']} ({alert['rule']}{where})? It stays quiet "
                 f"until it resolves and fires again.", "Acknowledge",
                 lambda: self.acknowledge(int(alert["id"])))

    @work(group="alerts-ack")
    async def acknowledge(self, alert_id: int) -> None:
        try:
            async with self.hub.audit.acting(CONSOLE, "alerts.ack",
                                             f"acknowledge alert {alert_id}"):
                result = await self.hub.alerts.acknowledge(alert_id, by=ACKED_BY)
        except CcrError as exc:
            self.notify(str(exc), title=f"alert {alert_id}", severity="error")
            self.reload()
            return
        if result.changed:
            self.notify(f"Alert {alert_id} acknowledged: quiet until it resolves.", timeout=4)
        else:
            self.notify(f"Alert {alert_id} is already acknowledged by "
                        f"{result.alert.acknowledged_by}.", severity="warning")
