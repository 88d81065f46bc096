"""Prometheus metrics and the in-memory time series, fed by hub events and a few timers.

Each hub owns its `CollectorRegistry` (never the process-wide default), so several hubs in
one process do not collide. Most figures come from the event bus (commands, breakers,
Telegram outcomes, dead letters, sessions) in one background task; only what has no event
is timed where it happens, with a `perf_counter()` pair: tmux/SSH calls (executor), Telegram
send attempts (delivery worker) and database transactions and reads (store).

Label values are bounded and never user input: configured server ids (anything else is
counted as "other"), fixed status words and error codes from `ccr.core.errors`. No chat text,
command text, token or secret is ever a label or a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ccr.core.events import (
    BreakerStateChanged,
    CommandChanged,
    DeadLetterArchived,
    DeadLetterDelivered,
    DeadLettered,
    DeadLetterRetried,
    DeadLettersPurged,
    Event,
    EventBus,
    NotificationDelivered,
    NotificationFailed,
    SessionHealthChanged,
    SessionUpdated,
)
from ccr.core.models import CommandState
from ccr.store import metrics as store
from ccr.store.db import Database
from ccr.telemetry.pool_metrics import PoolCollector, PoolStats
from ccr.telemetry.timeseries import GLOBAL, TimeSeries

disable_created_metrics()  # type: ignore[no-untyped-call]  # `*_created` only doubles the output

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"
"""The server label of anything that is not a configured server id."""

BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
SSH_STATUS = {
    "pane_gone": "pane_gone", "session_not_in_tmux": "pane_gone", "tmux_failed": "tmux_error",
    "ssh_unreachable": "unreachable", "ssh_auth_failed": "auth_failed",
    "ssh_host_key_unknown": "host_key", "ssh_host_key_changed": "host_key",
    "delivery_uncertain": "uncertain",
}
"""RemoteError code -> the `status` label of ssh_commands_total (else "error")."""
SERVER_FAULT_STATUS = frozenset({"unreachable", "auth_failed", "host_key", "uncertain",
                                 "error"})
"""Statuses that say the server failed (they count in the error rate); tmux answering
"no such pane" is not one."""
DISPATCHED = frozenset({CommandState.EXECUTING, CommandState.FAILED, CommandState.UNCERTAIN})
"""States that end the typing step: counted once per command, errors by the last two."""
SSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
DB_OPERATIONS = frozenset({"transaction", "read"})

Refresh = Callable[[], Any]


class _Live(Collector):
    """Figures read at scrape time: pool connections and hook forwards need no event."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        conns = GaugeMetricFamily("ssh_connections_active",
                                  "Open SSH connections per server (one per SSH server when "
                                  "warm; local servers have none).", labels=["server"])
        for server, n in sorted(self.metrics.connections().items()):
            conns.add_metric([self.metrics.server(server)], float(n))
        yield conns
        forwards = self.metrics.forwards()
        if not forwards:
            return
        up = GaugeMetricFamily("ssh_hook_forward_up", "1 while the hub's remote port forward "
                               "for the server's hooks (hooks_via = \"ssh\") is listening "
                               "there, else 0.", labels=["server"])
        opened = CounterMetricFamily("ssh_hook_forward_opened", "Times the hook forward was "
                                     "established (the first time and after each drop).",
                                     labels=["server"])
        failed = CounterMetricFamily("ssh_hook_forward_failures", "Attempts that did not "
                                     "establish the hook forward (no connection, port taken, "
                                     "refused).", labels=["server"])
        for server, f in sorted(forwards.items()):
            label = [self.metrics.server(server)]
            up.add_metric(label, f.get("up", 0.0))
            opened.add_metric(label, f.get("opened", 0.0))
            failed.add_metric(label, f.get("failures", 0.0))
        yield from (up, opened, failed)


class Metrics:
    """The hub's metrics: a private registry plus the rolling time series."""

    def __init__(self, servers: Iterable[str], *, clock: Callable[[], float] = time.time,
                 connections: Callable[[], dict[str, int]] = dict,
                 pool: PoolStats | None = None,
                 forwards: Callable[[], dict[str, dict[str, float]]] = dict) -> None:
        self.servers = tuple(servers)
        self._known = frozenset(self.servers)
        self.clock = clock
        self.connections = connections
        self.forwards = forwards
        """Per server with hooks_via = "ssh": its hook forward's up/opened/failures."""
        self.series = TimeSeries(self.servers, clock=clock)
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.ssh_commands = Counter("ssh_commands", "tmux calls per server (local or over "
                                    "SSH) by outcome.", ["server", "status"], registry=r)
        self.ssh_duration = Histogram("ssh_command_duration_seconds",
                                      "Duration of one tmux call, connecting included.",
                                      ["server"], buckets=SSH_BUCKETS, registry=r)
        self.notifications = Counter("telegram_notifications", "Telegram messages by final "
                                     "outcome: sent, or dead_lettered after every try.",
                                     ["status"], registry=r)
        self.send_attempts = Counter("telegram_send_attempts", "Telegram send attempts by "
                                     "result (ok or error).", ["status"], registry=r)
        self.send_duration = Histogram("telegram_send_duration_seconds",
                                       "Duration of one Telegram send attempt.",
                                       buckets=SEND_BUCKETS, registry=r)
        self.hook_events = Counter("hook_events", "Hook events received by outcome "
                                   "(accepted, duplicate, rejected).",
                                   ["server", "kind", "status"], registry=r)
        self.db_duration = Histogram("db_query_duration_seconds", "Duration of one database "
                                     "transaction or read, once the connection is ours.",
                                     ["operation"], buckets=DB_BUCKETS, registry=r)
        self.breaker_state = Gauge("circuit_breaker_state", "Circuit breaker per server: "
                                   "0 closed, 1 half-open, 2 open.", ["server"], registry=r)
        self.breaker_changes = Counter("circuit_breaker_state_changes", "Breaker transitions.",
                                       ["server", "from", "to"], registry=r)
        self.dlq_size = Gauge("dead_letter_queue_size", "Dead letters waiting for a retry "
                              "cycle or archived (not delivered, not purged).", registry=r)
        self.commands = Counter("commands", "Commands reaching each state (pending, "
                                "dispatching, delivered, failed, uncertain).",
                                ["server", "state"], registry=r)
        self.sessions_live = Gauge("sessions_live", "Live (unexpired) sessions per server.",
                                   ["server"], registry=r)
        self.metric_errors = Counter("ccr_metrics_errors", "Failures while refreshing "
                                     "metrics from the store (the hub carries on).",
                                     registry=r)
        self.cache_hits = Counter("cache_hits", "Cache lookups answered from memory, per "
                                  "cache (sessions, servers).", ["cache"], registry=r)
        self.cache_misses = Counter("cache_misses", "Cache lookups that went to the database "
                                    "or the configuration.", ["cache"], registry=r)
        self.cache_entries = Gauge("cache_entries", "Entries held per cache.", ["cache"],
                                   registry=r)
        r.register(_Live(self))
        if pool is not None:
            r.register(PoolCollector(pool, self.server))
        for sid in self.servers:
            self.breaker_state.labels(sid).set(0)
            self.ssh_duration.labels(sid)
            self.sessions_live.labels(sid).set(0)
        for status in ("sent", "dead_lettered"):
            self.notifications.labels(status)
        for status in ("ok", "error"):
            self.send_attempts.labels(status)
        for op in sorted(DB_OPERATIONS):
            self.db_duration.labels(op)
        self._ssh_children: dict[tuple[str, str], Any] = {}
        self._refreshers: list[Refresh] = []

    def add_server(self, server_id: str) -> None:
        """A server added while the hub runs is labelled by its id from now on."""
        if server_id in self._known:
            return
        self.servers = (*self.servers, server_id)
        self._known = frozenset(self.servers)
        self.series.add_server(server_id)
        self.breaker_state.labels(server_id).set(0)
        self.ssh_duration.labels(server_id)
        self.sessions_live.labels(server_id).set(0)

    def server(self, server_id: str | None) -> str:
        """A label value for a server id: configured ids as they are, else "other"."""
        return server_id if server_id in self._known and server_id else OTHER

    # --- direct instrumentation (no event exists) ------------------------------------------

    def ssh_call(self, server_id: str, code: str | None, seconds: float) -> None:
        """One tmux call finished: `code` is None on success, else its RemoteError code."""
        status = "ok" if code is None else SSH_STATUS.get(code, "error")
        server = self.server(server_id)
        key = (server, status)
        child = self._ssh_children.get(key)
        if child is None:
            child = self._ssh_children[key] = (self.ssh_commands.labels(server, status),
                                               self.ssh_duration.labels(server))
        child[0].inc()
        child[1].observe(seconds)
        ts = self.series
        ts.count("ssh_calls", server)
        ts.observe("ssh_seconds", server, seconds)
        if status in SERVER_FAULT_STATUS:
            ts.count("ssh_errors", server)

    def telegram_send(self, status: str, seconds: float) -> None:
        """One Telegram send attempt finished: status "ok" or "error"."""
        status = "ok" if status == "ok" else "error"
        self.send_attempts.labels(status).inc()
        self.send_duration.observe(seconds)
        self.series.observe("telegram_seconds", GLOBAL, seconds)

    def cache_lookup(self, cache: str, hit: bool) -> None:
        """One lookup in a hub cache (ccr.services.cache); cache names are fixed words."""
        (self.cache_hits if hit else self.cache_misses).labels(cache).inc()

    def watch_cache(self, cache: str, entries: Callable[[], float]) -> None:
        """Report a cache's figures from now on (its size is read at scrape time)."""
        self.cache_hits.labels(cache)
        self.cache_misses.labels(cache)
        self.cache_entries.labels(cache).set_function(entries)

    def db_operation(self, operation: str, seconds: float) -> None:
        """A transaction or read finished."""
        if operation in DB_OPERATIONS:
            self.db_duration.labels(operation).observe(seconds)

    def hook_event(self, server_id: str | None, kind: str, status: str) -> None:
        """A hook event the ingest endpoint did not accept (accepted ones come as events)."""
        server = self.server(server_id) if server_id else ""
        self.hook_events.labels(server, kind, status).inc()

    # --- fed by events -------------------------------------------------------------------

    def handle(self, event: Event) -> bool:
        """Account for one hub event; True when a store-backed gauge should be refreshed."""
        if isinstance(event, CommandChanged):
            command = event.command
            server = self.server(command.handle.split(":", 1)[0])
            self.commands.labels(server, command.state.value).inc()
            if command.state in DISPATCHED:
                self.series.count("commands", server)
                if command.state is not CommandState.EXECUTING:
                    self.series.count("command_errors", server)
        elif isinstance(event, BreakerStateChanged):
            server = self.server(event.server_id)
            self.breaker_state.labels(server).set(BREAKER_VALUES.get(event.state, 2))
            self.breaker_changes.labels(server, event.previous, event.state).inc()
        elif isinstance(event, NotificationDelivered):
            self.notifications.labels("sent").inc()
            self.series.count("telegram_sends")
        elif isinstance(event, NotificationFailed):
            self.notifications.labels("dead_lettered").inc()
            self.series.count("telegram_failures")
        elif isinstance(event, SessionUpdated):
            self.hook_events.labels(self.server(event.session.server_id), event.kind,
                                    "accepted").inc()
            return event.created
        elif isinstance(event, DeadLettered | DeadLetterRetried | DeadLetterDelivered
                        | DeadLetterArchived | DeadLettersPurged | SessionHealthChanged):
            return True
        return False

    def set_breakers(self, states: dict[str, str]) -> None:
        """The breakers' states as loaded at start ({server: "closed"|"half_open"|"open"})."""
        for sid, state in states.items():
            self.breaker_state.labels(self.server(sid)).set(BREAKER_VALUES.get(state, 2))

    def set_dlq_size(self, size: int) -> None:
        self.dlq_size.set(size)
        self.series.gauge("dlq_size", GLOBAL, size)

    def set_sessions(self, per_server: dict[str, int]) -> None:
        """Live sessions per server (servers absent from the dict have none)."""
        for sid in self.servers:
            n = per_server.get(sid, 0)
            self.sessions_live.labels(sid).set(n)
            self.series.gauge("sessions_live", sid, n)

    async def run(self, bus: EventBus, refresh: Refresh, *, interval_s: float = 10.0,
                  subscribed: asyncio.Event | None = None) -> None:
        """Follow the bus; refresh store-backed gauges every `interval_s` and on their events.

        `refresh` is an async callable that reads the store and calls `set_dlq_size` and
        `set_sessions`; `subscribed` is set once no event can be missed any more.
        """
        async with bus.subscribe() as queue:
            if subscribed is not None:
                subscribed.set()
            await self._refresh(refresh)
            next_at = time.monotonic() + interval_s
            while True:
                timeout = max(0.0, next_at - time.monotonic())
                stale = False
                with contextlib.suppress(TimeoutError):
                    event = await asyncio.wait_for(queue.get(), timeout)
                    stale = self.handle(event)
                    while not queue.empty():  # a burst: one refresh after all of it
                        stale = self.handle(queue.get_nowait()) or stale
                if stale or time.monotonic() >= next_at:
                    await self._refresh(refresh)
                    if time.monotonic() >= next_at:
                        next_at = time.monotonic() + interval_s

    async def _refresh(self, refresh: Refresh) -> None:
        try:
            await refresh()
        except Exception:  # a locked or closing database must not stop the metrics
            self.metric_errors.inc()

    # --- exposition ----------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)



def from_store(metrics: Metrics, db: Database, clock: Callable[[], float]) -> Refresh:
    """The refresh of the gauges that only the store knows: DLQ size, live sessions."""

    async def refresh() -> None:
        metrics.set_dlq_size(await store.dead_letters(db))
        metrics.set_sessions(await store.live_sessions(db, clock()))

    return refresh


async def keep_snapshots(metrics: Metrics, db: Database, *, interval_s: float,
                         keep_s: float) -> None:
    """Store `snapshot()` every `interval_s`, keeping `keep_s` of them (a background task)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await store.save_snapshot(db, metrics.clock(), metrics.series.snapshot(),
                                      keep_s=keep_s)
        except Exception:  # a locked database: the next snapshot tries again
            metrics.metric_errors.inc()
