"""The audit log: every action that changes something, once, with who did it and how it ended.

A face wraps the action in `AuditService.acting(actor, action, what, key=...)`; while it runs,
the services it calls `note()` what they learn (the session, the trace, the outcome), and the
entry is written when it ends, with the face's idempotency key (a Telegram update id, an API
Idempotency-Key), so a redelivered update or request is recorded once. Refusals are recorded
with `refused()`. Every text is redacted before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from ccr.core.errors import CcrError
from ccr.core.events import AuditRecorded, EventBus
from ccr.core.redact import redact
from ccr.store import audit as rows
from ccr.store import retention
from ccr.store.audit import Entry
from ccr.store.db import Database

PURGE_INTERVAL_S = 3600.0
MAX_TEXT = 500


@dataclass(frozen=True)
class Actor:
    """Who acts, from which face."""

    face: str
    """telegram, console, api or cli."""
    id: str
    """telegram:<user id>, console, or api:<token name>."""
    name: str = ""


CONSOLE = Actor("console", "console", "console")


@dataclass
class Pending:
    """What is learnt about an action while it runs (filled by `note`)."""

    server: str | None = None
    session: str | None = None
    outcome: str | None = None
    trace_id: str | None = None
    what: str | None = None
    """The text typed, when the face's own description does not hold it."""


_pending: ContextVar[Pending | None] = ContextVar("ccr_audit_pending", default=None)


def note(*, server: str | None = None, session: str | None = None, outcome: str | None = None,
         trace_id: str | None = None, what: str | None = None) -> None:
    """Tell the action being audited (if any) what a service learnt; first word wins, so
    the service closest to the action is not overwritten by a later, vaguer one."""
    pending = _pending.get()
    if pending is None:
        return
    pending.server = pending.server or server
    pending.session = pending.session or session
    pending.outcome = pending.outcome or outcome
    pending.trace_id = pending.trace_id or trace_id
    pending.what = pending.what or what


def _clip(text: str) -> str:
    return redact(" ".join(text.split()))[:MAX_TEXT]


class AuditService:
    """Appends entries, lists them, deletes those past `[audit] keep_days`."""

    def __init__(self, db: Database, *, keep_days: float, clock: Callable[[], float] = time.time,
                 log: Callable[[str, str], None] | None = None,
                 bus: EventBus | None = None) -> None:
        self.db = db
        self.bus = bus
        self.keep_days = keep_days
        self.clock = clock
        self._log = log

    async def record(self, actor: Actor, action: str, what: str = "", *, outcome: str,
                     refused: bool = False, server: str | None = None,
                     session: str | None = None, trace_id: str | None = None,
                     key: str | None = None) -> bool:
        """Append one entry; False when `key` was recorded before (nothing added)."""
        entry = Entry(at=self.clock(), face=actor.face, actor=actor.id,
                      actor_name=_clip(actor.name)[:100], action=action[:40], what=_clip(what),
                      server=server, session=session, outcome=_clip(outcome), refused=refused,
                      trace_id=trace_id)
        added = await rows.append(self.db, entry, key)
        if added and self.bus is not None:
            self.bus.publish(AuditRecorded(entry.action, entry.actor, refused))
        return added

    async def refused(self, actor: Actor, action: str, what: str, error: CcrError, *,
                      key: str | None = None) -> bool:
        """A refused attempt: who tried what, and why it was refused."""
        return await self.record(actor, action, what, outcome=f"refused: {error.message}",
                                 refused=True, key=key)

    @contextlib.asynccontextmanager
    async def acting(self, actor: Actor, action: str, what: str = "", *,
                     key: str | None = None) -> AsyncIterator[Pending]:
        """Run an action and record it when it ends (an exception is its outcome too)."""
        pending = Pending()
        token = _pending.set(pending)
        outcome: str | None = None
        try:
            yield pending
        except CcrError as exc:
            outcome = f"failed: {exc.code}"
            raise
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}"
            raise
        finally:
            _pending.reset(token)
            try:
                if pending.what and pending.what not in what:
                    what = f"{what}: {pending.what}" if what else pending.what
                await self.record(actor, action, what, outcome=outcome or pending.outcome
                                  or "done", server=pending.server, session=pending.session,
                                  trace_id=pending.trace_id, key=key)
            except Exception as exc:  # the action happened; a lost entry is logged loudly
                self._say("error", f"audit entry for {action} by {actor.id} not written: "
                                   f"{exc!r}")

    async def recent(self, *, since_s: float | None = None, who: str | None = None,
                     limit: int = 200) -> list[Entry]:
        """Entries of the last `since_s` seconds (default: all kept), newest first."""
        since = self.clock() - since_s if since_s is not None else 0.0
        return await rows.recent(self.db, since=since, who=who or None,
                                 limit=max(1, min(limit, 5000)))

    async def purge(self) -> int:
        """Delete entries older than keep_days; how many."""
        async with self.db.transaction() as conn:
            return await retention.purge_audit(conn, self.clock() - self.keep_days * 86400)

    async def run(self) -> None:
        """The purge job: now, then every hour."""
        while True:
            try:
                await self.purge()
            except Exception as exc:  # retried next hour; nothing is lost meanwhile
                self._say("warning", f"audit purge failed: {exc!r}")
            await asyncio.sleep(PURGE_INTERVAL_S)

    def _say(self, level: str, text: str) -> None:
        if self._log is not None:
            self._log(level, text)


def who(entry: Entry) -> str:
    """The actor as people read it: `telegram:123 (Ann Lee)`, `console`, `api:grafana`."""
    if entry.actor_name and entry.actor_name not in (entry.actor, entry.actor.partition(":")[2]):
        return f"{entry.actor} ({entry.actor_name})"
    return entry.actor


def view(entry: Entry) -> dict[str, object]:
    """An entry for the API and `--json`: its fields, plus `who` as shown."""
    return {**entry.to_dict(), "who": who(entry)}


def where(entry: Entry) -> str:
    return entry.session or entry.server or "-"
