"""The SSH pool's figures at /metrics, read from `SshPool.stats()` at scrape time.

Gauges say how the pool stands now (connections busy, idle or opening, channels in use,
callers waiting); counters say what happened since the hub started (connections opened and
closed by reason, connect failures, waits and waits that timed out, replacements).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

PoolStats = Callable[[], dict[str, dict[str, int | float]]]
"""`SshPool.stats`: per server id, its figures by name."""

CLOSED_REASONS = {"idle": "closed_idle", "evicted": "evicted", "failed": "failed"}
"""`reason` label of ssh_pool_connections_closed_total -> the stats key counting it."""


class PoolCollector(Collector):
    """Per server pool figures; `label` maps a server id to its (bounded) label value."""

    def __init__(self, stats: PoolStats, label: Callable[[str], str]) -> None:
        self.stats = stats
        self.label = label

    def _by_label(self) -> dict[str, dict[str, float]]:
        """Figures per label value (ids that are not configured add up under "other")."""
        out: dict[str, dict[str, float]] = {}
        for sid, figures in self.stats().items():
            into = out.setdefault(self.label(sid), {})
            for key, n in figures.items():
                into[key] = into.get(key, 0.0) + float(n)
        return out

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        figures = self._by_label()
        conns = GaugeMetricFamily(
            "ssh_pool_connections", "Pooled SSH connections per server: busy (a channel in "
            "use), idle, or opening.", labels=["server", "state"])
        channels = GaugeMetricFamily("ssh_pool_channels_in_use", "SSH channels in use per "
                                     "server (exec calls and held control channels).",
                                     labels=["server"])
        waiting = GaugeMetricFamily("ssh_pool_waiters", "Callers waiting for a channel "
                                    "because the server's connections are all busy.",
                                    labels=["server"])
        opened = CounterMetricFamily("ssh_pool_connections_opened", "SSH connections opened "
                                     "by the pool.", labels=["server"])
        closed = CounterMetricFamily("ssh_pool_connections_closed", "SSH connections gone, by "
                                     "reason: idle (unused), evicted (global cap), failed "
                                     "(lost or broken).", labels=["server", "reason"])
        failures = CounterMetricFamily("ssh_pool_connect_failures", "Connection attempts "
                                       "that failed.", labels=["server"])
        waits = CounterMetricFamily("ssh_pool_waits", "Callers that had to wait for a "
                                    "channel.", labels=["server"])
        timeouts = CounterMetricFamily("ssh_pool_wait_timeouts", "Waits that gave up "
                                       "(ssh_pool_busy: nothing ran).", labels=["server"])
        replaced = CounterMetricFamily("ssh_pool_replacements", "Lost connections replaced "
                                       "at once, by result (ok, failed).",
                                       labels=["server", "result"])
        for server, f in sorted(figures.items()):
            for state in ("busy", "idle", "opening"):
                conns.add_metric([server, state], f.get(state, 0.0))
            channels.add_metric([server], f.get("channels", 0.0))
            waiting.add_metric([server], f.get("waiting", 0.0))
            opened.add_metric([server], f.get("opened", 0.0))
            for reason, key in CLOSED_REASONS.items():
                closed.add_metric([server, reason], f.get(key, 0.0))
            failures.add_metric([server], f.get("connect_errors", 0.0))
            waits.add_metric([server], f.get("waits", 0.0))
            timeouts.add_metric([server], f.get("timeouts", 0.0))
            replaced.add_metric([server, "ok"], f.get("replaced", 0.0))
            replaced.add_metric([server, "failed"], f.get("replace_failed", 0.0))
        yield from (conns, channels, waiting, opened, closed, failures, waits, timeouts,
                    replaced)
