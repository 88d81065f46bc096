"""A server's last 60 minutes as sparklines: commands per second, SSH error rate, SSH p95.

Each row keeps its Sparkline and value label and only changes their data, so a refresh
repaints those few cells and nothing blinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static


class Series(Protocol):
    """What the panes read: the hub's rolling time series (`hub.metrics.series`)."""

    def series(self, name: str, server: str | None = None,
               minutes: float = 60) -> list[tuple[float, float | None]]: ...

    def window(self, name: str, server: str | None = None,
               minutes: float = 5) -> float | None: ...


def per_second(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}/s" if value < 10 else f"{value:.0f}/s"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


class Metric:
    """One row's definition: a series, its label, and its headline figure."""

    def __init__(self, name: str, label: str, now: Callable[[Series, str | None], str]
                 ) -> None:
        self.name = name
        self.label = label
        self.now = now


METRICS = (
    Metric("commands", "commands/s",
           lambda s, sid: per_second((s.window("commands", sid, 1) or 0.0) / 60) + " 1m"),
    Metric("error_rate", "SSH errors",
           lambda s, sid: percent(s.window("error_rate", sid, 5)) + " 5m"),
    Metric("ssh_p95", "SSH p95",
           lambda s, sid: seconds(s.window("ssh_p95", sid, 5)) + " 5m"),
)


class MetricRow(Horizontal):
    """Label, a sparkline of the last 60 minutes, and the current figure."""

    def __init__(self, metric: Metric, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.metric = metric
        self.data: list[float] = []

    def compose(self) -> ComposeResult:
        yield Static(self.metric.label, classes="label")
        yield Sparkline([], classes=f"spark {self.metric.name}")
        yield Static("-", classes="value")

    def show(self, source: Series, server: str | None, minutes: float) -> None:
        data = [v or 0.0 for _, v in source.series(self.metric.name, server, minutes)]
        if data != self.data:  # unchanged data: no repaint at all
            self.data = data
            self.query_one(Sparkline).data = data
        value = self.query_one(".value", Static)
        text = self.metric.now(source, server)
        if str(value.render()) != text:
            value.update(text)

    @property
    def value(self) -> str:
        return str(self.query_one(".value", Static).render())


class ServerMetrics(Vertical):
    """One server's pane (or all servers together when `server` is None)."""

    def __init__(self, server: str | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.server = server
        self.border_title = server or "all servers"

    def compose(self) -> ComposeResult:
        for metric in METRICS:
            yield MetricRow(metric)
        with Horizontal(classes="axis"):
            yield Static("", classes="label")
            yield Static("-60 min", classes="left")
            yield Static("now", classes="right")
            yield Static("", classes="value")

    def show(self, source: Series, minutes: float) -> None:
        for row in self.query(MetricRow):
            row.show(source, self.server, minutes)

    def row(self, name: str) -> MetricRow:
        return next(r for r in self.query(MetricRow) if r.metric.name == name)
