"""Metrics: commands per second, SSH error rate and SSH p95 per server, last 60 minutes.

The hub's rolling time series is the source; a 10 s timer (the series' resolution) re-reads
it while the screen is shown. Nothing else is polled.
"""

from __future__ import annotations

import time
from pathlib import PurePath
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static

from ccr.console.screens.base import OperatorScreen
from ccr.console.widgets.metrics import ServerMetrics
from ccr.console.widgets.metrics.pane import percent, seconds

MINUTES = 60
REFRESH_S = 10.0


class MetricsScreen(OperatorScreen[None]):
    """A sparkline pane per server (and one for all of them when there are several)."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["operator.tcss", "metrics.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", show=False),
    ]
    refresh_every: float | None = REFRESH_S

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary", classes="explain")
        with VerticalScroll(id="panes"):
            servers = [s.id for s in self.hub.settings.servers]
            if self.hub.metrics is not None:
                if len(servers) > 1:
                    yield ServerMetrics(None, id="pane-all")
                for sid in servers:
                    yield ServerMetrics(sid)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.hub.metrics is None:
            self.query_one("#summary", Static).update(
                "Metrics are off ([metrics] enabled = false in ccr.toml): there is no time "
                "series to show.")
            self.refresh_every = None  # nothing to re-read

    def reload(self) -> None:
        """The series is in memory: shown at once, no worker."""
        metrics = self.hub.metrics
        if metrics is None:
            self.mark_settled()
            return
        source = metrics.series
        for pane in self.query(ServerMetrics):
            pane.show(source, MINUTES)
        snap = source.snapshot()
        overall, telegram = snap["overall"], snap["telegram"]
        dlq = snap["dlq_size"]
        stamp = time.strftime("%H:%M:%S", time.localtime(snap["at"]))
        text = (f"Last {MINUTES} min, one bar per {snap['resolution_s']} s (merged to fit) · "
                f"updated {stamp} · all servers: {overall['commands_60m']} command(s), "
                f"SSH errors {percent(overall['error_rate_5m'])} and p95 "
                f"{seconds(overall['ssh_p95_5m_s'])} over 5 min · Telegram 5m: "
                f"{telegram['sent_5m']} sent, {telegram['failed_5m']} failed · "
                f"dead letters: {'-' if dlq is None else dlq}")
        summary = self.query_one("#summary", Static)
        if str(summary.render()) != text:
            summary.update(text)
        self.mark_settled()
