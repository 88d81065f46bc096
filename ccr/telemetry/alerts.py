"""Alert rules for the admins: evaluated every `[alerts] interval_s`, each with a cooldown.

Rules (thresholds in `[alerts]`), each keyed by rule and server where it has one:

- `error_rate`: a server's SSH error rate over 5 min above 10 % (cooldown 15 min);
- `breaker_open`: a server's circuit breaker is not closed (5 min);
- `dlq_size`: more than 100 dead letters waiting (10 min);
- `ssh_p95`: a server's SSH call p95 over 5 min above 10 s (30 min);
- `claude_logged_out` / `claude_billing`: a turn on a server ended in StopFailure with
  `authentication_failed` / `billing_error`, and no Stop from that server came since (1 h).

`conditions()` is a pure function of the current `Figures`; `AlertService` reconciles what
holds with the alerts stored in SQLite. A condition that starts to hold fires an alert (a
row, an outbox message to each admin, `AlertFired`), unless the same rule and server fired
less than its cooldown ago. An alert nobody acknowledged is repeated once per cooldown while
it holds; an acknowledged one stays quiet. When the condition clears the alert resolves and
the admins are told once. Messages carry figures, server ids and error reasons, never a
secret or the text of a chat message or command.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ccr.core.config import AlertSettings
from ccr.core.errors import InputError, NotFoundError
from ccr.core.events import (
    AlertAcknowledged,
    AlertFired,
    AlertResolved,
    BreakerStateChanged,
    EventBus,
    HubLog,
)
from ccr.core.redact import redact
from ccr.store import alerts as store
from ccr.store import claude_failures as claude_failures_store
from ccr.store import deadletters, outbox
from ccr.store.alerts import Alert
from ccr.store.claude_failures import ClaudeFailure
from ccr.store.db import Database
from ccr.telemetry import warning_rules

MAX_ROW_ID = 2**63 - 1
"""The largest id SQLite can store; a larger number names no alert."""

RULES: dict[str, str] = {
    "error_rate": "SSH error rate",
    "breaker_open": "Circuit breaker not closed",
    "dlq_size": "Dead-letter queue too long",
    "ssh_p95": "Slow SSH calls",
    "claude_logged_out": "Claude Code logged out",
    "claude_billing": "Claude Code refused for billing",
    **warning_rules.RULES,
}
"""Rule name -> a short title."""

CLAUDE_RULES: dict[str, str] = {
    "authentication_failed": "claude_logged_out",
    "billing_error": "claude_billing",
}
"""StopFailure kinds that need an admin -> their rule (the others pass: a rate limit resets,
a server error is Anthropic's)."""


@dataclass(frozen=True)
class BreakerFigure:
    state: str  # "closed" | "open" | "half_open"
    failures: int = 0
    reason: str = ""
    retry_at: float | None = None


@dataclass(frozen=True)
class Figures:
    """What the rules look at, read at one moment."""

    servers: tuple[str, ...] = ()
    breakers: Mapping[str, BreakerFigure] | None = None
    """None: breakers are off."""
    error_rates: Mapping[str, tuple[float | None, int]] | None = None
    """server -> (SSH error rate over the window, SSH calls in it); None: metrics are off."""
    ssh_p95: Mapping[str, float | None] | None = None
    """server -> p95 seconds over the window; None: metrics are off."""
    dlq_size: int | None = None
    claude_failures: Mapping[str, ClaudeFailure] | None = None
    """server -> its StopFailure that needs an admin, until a later Stop; None: not read."""
    stuck: tuple[warning_rules.StuckCommand, ...] | None = None
    silent: tuple[warning_rules.SilentServer, ...] | None = None
    exposed: tuple[warning_rules.ExposedFile, ...] | None = None
    """The warnings' figures (`ccr.services.warnings`); None: not read."""


@dataclass(frozen=True)
class Condition:
    """A rule whose condition holds now, for one server (or the hub as a whole)."""

    rule: str
    server: str | None
    value: float | None
    message: str


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def conditions(fig: Figures, cfg: AlertSettings) -> list[Condition]:
    """Every rule's condition that holds for these figures (pure; unit-tested)."""
    out: list[Condition] = []
    for sid in fig.servers:
        b = (fig.breakers or {}).get(sid)
        if b is not None and b.state != "closed":
            why = f" ({b.reason[:160]})" if b.reason else ""
            out.append(Condition(
                "breaker_open", sid, float(b.failures),
                f"The circuit breaker of {sid} is {b.state.replace('_', '-')} after "
                f"{b.failures} failed attempt(s){why}; commands to {sid} are refused until "
                "it closes."))
        rate, calls = (fig.error_rates or {}).get(sid, (None, 0))
        if rate is not None and calls >= cfg.error_rate_min_calls and rate > cfg.error_rate:
            failed = round(rate * calls)
            out.append(Condition(
                "error_rate", sid, rate,
                f"SSH error rate on {sid} is {_pct(rate)} over the last "
                f"{cfg.error_rate_minutes:g} min ({failed} of {calls} calls failed; "
                f"threshold {_pct(cfg.error_rate)})."))
        p95 = (fig.ssh_p95 or {}).get(sid)
        if p95 is not None and p95 > cfg.ssh_p95_s:
            out.append(Condition(
                "ssh_p95", sid, p95,
                f"SSH calls to {sid} are slow: p95 {p95:.1f} s over the last "
                f"{cfg.ssh_p95_minutes:g} min (threshold {cfg.ssh_p95_s:g} s)."))
    for sid, failure in sorted((fig.claude_failures or {}).items()):
        rule = CLAUDE_RULES.get(failure.error)
        said = f" (Claude said: {failure.said[:200]})" if failure.said else ""
        if rule == "claude_logged_out":
            out.append(Condition(
                rule, sid, None,
                f"Claude Code on {sid} is logged out{said}: run `claude /login` on {sid}. "
                f"Until then every command sent to {sid} fails."))
        elif rule == "claude_billing":
            out.append(Condition(
                rule, sid, None,
                f"Claude Code on {sid} was refused for billing{said}: check the account's "
                f"billing and credits. Until then every command sent to {sid} fails."))
    if fig.dlq_size is not None and fig.dlq_size > cfg.dlq_size:
        out.append(Condition(
            "dlq_size", None, float(fig.dlq_size),
            f"{fig.dlq_size} undelivered messages wait in the dead-letter queue "
            f"(threshold {cfg.dlq_size}); see /dlq or `ccr dlq list`."))
    out += [Condition(w.rule, w.server, w.value, w.message)
            for w in warning_rules.conditions(fig.stuck, fig.silent, fig.exposed, cfg)]
    return out


def cooldown_s(rule: str, cfg: AlertSettings) -> float:
    more = warning_rules.cooldown_s(rule, cfg)
    if more is not None:
        return more
    return {"error_rate": cfg.error_rate_cooldown_s, "breaker_open": cfg.breaker_cooldown_s,
            "dlq_size": cfg.dlq_cooldown_s, "ssh_p95": cfg.ssh_p95_cooldown_s,
            "claude_logged_out": cfg.claude_cooldown_s,
            "claude_billing": cfg.claude_cooldown_s}.get(rule, 0.0)


def view(alert: Alert) -> dict[str, Any]:
    """The plain-dict form shared by the API, the CLI, the console and the Telegram face
    (the message redacted)."""
    return {"id": alert.id, "rule": alert.rule, "title": RULES.get(alert.rule, alert.rule),
            "server": alert.server, "state": alert.state, "message": redact(alert.message),
            "value": alert.value, "fired_at": alert.fired_at, "notified_at": alert.notified_at,
            "acknowledged_by": alert.acknowledged_by,
            "acknowledged_at": alert.acknowledged_at, "resolved_at": alert.resolved_at}


# --- reading the figures -----------------------------------------------------------------


class Windowed(Protocol):
    """The time series' read side the rules need (`ccr.telemetry.timeseries.TimeSeries`)."""

    def window(self, name: str, server: str | None = None,
               minutes: float = 5) -> float | None: ...


def breaker_figures(states: Mapping[str, Any]) -> dict[str, BreakerFigure]:
    """BreakerRecords (`BreakerBoard.states()`) as figures."""
    return {sid: BreakerFigure(str(getattr(r.state, "value", r.state)), int(r.failures),
                               str(r.last_error or ""), r.next_probe_at)
            for sid, r in states.items()}


def series_figures(series: Windowed, servers: Sequence[str], cfg: AlertSettings
                   ) -> tuple[dict[str, tuple[float | None, int]], dict[str, float | None]]:
    """(error rates with their call counts, SSH p95s) per server from the time series."""
    rates: dict[str, tuple[float | None, int]] = {}
    p95s: dict[str, float | None] = {}
    for sid in servers:
        rate = series.window("error_rate", sid, cfg.error_rate_minutes)
        calls = int(series.window("ssh_calls", sid, cfg.error_rate_minutes) or 0)
        rates[sid] = (rate, calls)
        p95s[sid] = series.window("ssh_p95", sid, cfg.ssh_p95_minutes)
    return rates, p95s


async def claude_failures(db: Database) -> dict[str, ClaudeFailure]:
    """Servers whose Claude Code is logged out or refused for billing (until a Stop)."""
    return await claude_failures_store.current(db)


async def dlq_size(db: Database) -> int:
    counts = await deadletters.counts(db)
    return sum(n for state, n in counts.items() if state in deadletters.OPEN_STATES)


# --- the service -------------------------------------------------------------------------


@dataclass(frozen=True)
class AckResult:
    alert: Alert
    changed: bool  # False: it was already acknowledged


class AlertService:
    """Evaluates the rules, stores and announces alerts, acknowledges them."""

    def __init__(self, db: Database, bus: EventBus, settings: AlertSettings, *,
                 clock: Callable[[], float], figures: Callable[[], Awaitable[Figures]],
                 admins: Callable[[], list[int]] = lambda: []) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.figures = figures
        self.admins = admins
        self.on_outbox: Callable[[], None] = lambda: None
        self._last: dict[tuple[str, str | None], float] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def wake(self) -> None:
        """Evaluate now (a breaker changed)."""
        self._wake.set()

    async def run(self, *, subscribed: asyncio.Event | None = None) -> None:
        """Evaluate every `interval_s`, and at once after a breaker changes."""
        async with self.bus.subscribe() as queue:
            if subscribed is not None:
                subscribed.set()
            watcher = asyncio.create_task(self._watch(queue), name="alerts-watch")
            try:
                while True:
                    self._wake.clear()
                    try:
                        await self.evaluate()
                    except Exception as exc:  # a locked database must not stop the alerts
                        self.bus.publish(HubLog("error", f"alert evaluation failed: {exc!r}"))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.settings.interval_s)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _watch(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            if isinstance(await queue.get(), BreakerStateChanged):
                self._wake.set()

    async def evaluate(self) -> list[Alert]:
        """One pass over the rules; the alerts that fired or were repeated."""
        async with self._lock:
            return await self._evaluate()

    async def _evaluate(self) -> list[Alert]:
        cfg = self.settings
        if self._last is None:
            self._last = await store.last_fired(self.db)
        figures = await self.figures()
        now = self.clock()
        holding = {(c.rule, c.server): c for c in conditions(figures, cfg)}
        current = {(a.rule, a.server): a for a in await store.open_alerts(self.db)}
        fired: list[Alert] = []
        resolved: list[Alert] = []
        for key, alert in current.items():
            cond = holding.get(key)
            if cond is None:
                resolved.append(await self._resolve(alert, now))
            elif (alert.state == store.FIRING
                  and now - alert.notified_at >= max(cooldown_s(alert.rule, cfg), cfg.interval_s)):
                fired.append(await self._notify(alert, cond, now, reminder=True))
        for key, cond in holding.items():
            if key in current:
                continue
            last = self._last.get(key)
            if last is not None and now - last < cooldown_s(cond.rule, cfg):
                continue  # the rule's cooldown: it fired for this server a short while ago
            fired.append(await self._notify(None, cond, now, reminder=False))
            self._last[key] = now
        if resolved:
            async with self.db.transaction() as conn:
                await store.prune(conn, now)
        return fired

    async def _notify(self, alert: Alert | None, cond: Condition, now: float, *,
                      reminder: bool) -> Alert:
        admins = self.admins()
        async with self.db.transaction() as conn:
            if alert is None:
                alert = await store.insert(conn, rule=cond.rule, server=cond.server,
                                           message=cond.message, value=cond.value, now=now)
            else:
                await store.reminded(conn, alert.id, message=cond.message, value=cond.value,
                                     now=now)
                alert = Alert(**{**alert.__dict__, "message": cond.message,
                                 "value": cond.value, "notified_at": now})
            payload = {**view(alert), "phase": "reminder" if reminder else "fired"}
            for chat in admins:
                await outbox.enqueue(conn, chat_id=chat, kind="alert", payload=payload,
                                     now=now)
        if admins:
            self.on_outbox()
        self.bus.publish(AlertFired(alert.id, alert.rule, alert.server, alert.message,
                                    reminder))
        where = f" on {alert.server}" if alert.server else ""
        told = (f"{len(admins)} admin chat(s) told" if admins
                else "nobody told on Telegram: [telegram] admins is empty")
        self.bus.publish(HubLog("warning", f"alert {alert.id} {alert.rule}{where} "
                                           f"{'still firing' if reminder else 'fired'}: "
                                           f"{alert.message} ({told})"))
        return alert

    async def _resolve(self, alert: Alert, now: float) -> Alert:
        admins = self.admins()
        async with self.db.transaction() as conn:
            if not await store.resolve(conn, alert.id, now=now):
                return alert
            done = Alert(**{**alert.__dict__, "state": store.RESOLVED, "resolved_at": now})
            payload = {**view(done), "phase": "resolved"}
            for chat in admins:
                await outbox.enqueue(conn, chat_id=chat, kind="alert", payload=payload,
                                     now=now)
        if admins:
            self.on_outbox()
        self.bus.publish(AlertResolved(done.id, done.rule, done.server, done.message))
        where = f" on {done.server}" if done.server else ""
        self.bus.publish(HubLog("info", f"alert {done.id} {done.rule}{where} resolved"))
        return done

    async def acknowledge(self, alert_id: int, by: str) -> AckResult:
        """Firing -> acknowledged (quiet until it resolves and fires again).

        Raises `alert_not_found` or `alert_resolved` (a `CcrError`) and changes nothing then.
        """
        async with self._lock:
            alert = await store.get(self.db, alert_id) if 0 < alert_id <= MAX_ROW_ID else None
            if alert is None:
                raise NotFoundError("alert_not_found", alert=alert_id)
            if alert.state == store.RESOLVED:
                raise InputError("alert_resolved", alert=alert_id)
            if alert.state == store.ACKNOWLEDGED:
                return AckResult(alert, changed=False)
            now = self.clock()
            async with self.db.transaction() as conn:
                changed = await store.acknowledge(conn, alert_id, by=by, now=now)
            fresh = await store.get(self.db, alert_id)
            assert fresh is not None
        if changed:
            self.bus.publish(AlertAcknowledged(fresh.id, fresh.rule, fresh.server, by))
            self.bus.publish(HubLog("info", f"alert {fresh.id} {fresh.rule} acknowledged "
                                            f"by {by}"))
        return AckResult(fresh, changed)

    async def get(self, alert_id: int) -> Alert | None:
        return await store.get(self.db, alert_id) if 0 < alert_id <= MAX_ROW_ID else None

    async def active(self) -> list[Alert]:
        """Firing and acknowledged alerts, oldest first."""
        return await store.open_alerts(self.db)

    async def recent(self, limit: int = 50) -> list[Alert]:
        return await store.recent(self.db, limit)
