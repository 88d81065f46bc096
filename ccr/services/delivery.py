"""Delivery worker: sends the outbox to Telegram, in order per chat, with bounded retries.

The worker knows nothing of Telegram's API: a `Sender` (the Telegram face) renders and
sends one item and reports failures as `SendFailed`.

Tries follow the Telegram `RetryPolicy` of `[reliability]` (3 tries, 0.5 s doubling to 5 s,
full jitter, Telegram's retry_after honoured), but the retry state lives in the outbox row
(attempts, next_attempt_at) instead of tenacity's sleeping loop: a message waiting for its
next try never holds up other chats, and a restart forgets nothing. Within a
chat nothing overtakes a message waiting for a retry. Once its tries are spent (at once for a
permanent refusal) the message moves to the dead-letter queue, and its chat moves on: one
poison message must not block a chat forever. The dead-letter queue puts it back later, at
its old place among whatever is still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiosqlite

from ccr.core.config import ReliabilitySettings
from ccr.core.events import (
    DeadLetterArchived,
    DeadLetterDelivered,
    DeadLettered,
    EventBus,
    HubLog,
    NotificationDelivered,
    NotificationFailed,
)
from ccr.core.outbox_items import item_summary
from ccr.reliability.retry import RetryPolicy, telegram_policy
from ccr.store import deadletters, outbox
from ccr.store.db import Database
from ccr.store.deadletters import DeadLetter, Schedule
from ccr.store.outbox import OutboxItem
from ccr.telemetry.tracing import Tracing


class SendFailed(Exception):
    """A send did not succeed. `permanent` ones are not retried; `uncertain` may have arrived."""

    def __init__(self, reason: str, *, retry_after: float | None = None,
                 permanent: bool = False, category: str = "error",
                 uncertain: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        self.category = category
        self.uncertain = uncertain


class Sender(Protocol):
    async def send(self, item: OutboxItem) -> int:
        """Send one outbox item; the Telegram message id."""
        ...


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"  # the chat waits for this message's next try
    DEAD = "dead"  # in the dead-letter queue; the chat moves on


class DeliveryWorker:
    """Works the outbox whenever woken, and as soon as a retry comes due."""

    def __init__(self, db: Database, bus: EventBus, sender: Sender, *,
                 clock: Callable[[], float], policy: RetryPolicy | None = None,
                 schedule: Schedule | None = None,
                 admins: Callable[[], list[int]] = lambda: [],
                 rng: random.Random | None = None) -> None:
        self.db = db
        self.bus = bus
        self.sender = sender
        self.clock = clock
        self.policy = policy or telegram_policy(ReliabilitySettings())
        self.schedule = schedule or Schedule()
        self.admins = admins
        self.rng = rng
        self._wake = asyncio.Event()
        self._sending = asyncio.Lock()
        self.tracing = Tracing.disabled()
        self.observe: Callable[[str, float], None] | None = None
        """Told of each send attempt: ("ok"|"error", seconds). Metrics."""

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            wait = 1.0
            try:
                await self.drain()
                head = await outbox.next_due(self.db)
                if head is not None:
                    wait = min(1.0, max(0.01, head - self.clock()))
            except Exception as exc:  # keep delivering whatever a bad row did
                self.bus.publish(HubLog("error", f"delivery worker: {exc!r}"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def drain(self) -> int:
        """Send everything due now; returns how many were sent."""
        sent = 0
        while True:
            items = await outbox.due(self.db, self.clock())
            if not items:
                return sent
            progressed = False
            waiting: set[int] = set()
            for item in items:
                if item.chat_id in waiting:
                    continue  # keep this chat's order: nothing overtakes a message to retry
                outcome = await self._send(item)
                if outcome is Outcome.RETRY:
                    waiting.add(item.chat_id)
                    continue
                sent += outcome is Outcome.SENT
                progressed = True
            if not progressed:
                return sent

    async def payload_of(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The payload of a message sent earlier (a button on it asks for its full text)."""
        return await outbox.payload_of(self.db, chat_id, message_id)

    async def settled(self, within: float = 2.0) -> None:
        """Wait for a send in flight to be recorded (a reply may race its message id)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._sending:
                pass

    async def _send(self, item: OutboxItem) -> Outcome:
        async with self._sending:
            # Continues the trace of whatever queued the message (a hook event, a command).
            with self.tracing.span("outbox.deliver", component="delivery",
                                   parent=item.trace_parent, root=item.trace_parent is None,
                                   attrs={"ccr.kind": item.kind, "ccr.outbox_id": item.id,
                                          "ccr.attempt": item.attempts + 1}) as span:
                outcome = await self._send_one(item)
                span.set_attribute("ccr.outcome", outcome.value)
                return outcome

    async def _send_one(self, item: OutboxItem) -> Outcome:
        started = time.perf_counter()
        try:
            with self.tracing.span("telegram.send", component="telegram",
                                   attrs={"ccr.kind": item.kind}):
                message_id = await self.sender.send(item)
        except SendFailed as exc:
            if self.observe is not None:
                self.observe("error", time.perf_counter() - started)
            return await self._failed(item, exc)
        if self.observe is not None:
            self.observe("ok", time.perf_counter() - started)
        entry_id = await outbox.mark_sent(self.db, item, message_id, self.clock())
        self.bus.publish(NotificationDelivered(item.id, item.chat_id,
                                               str(item.payload.get("handle") or "") or None))
        if entry_id is not None:
            self.bus.publish(DeadLetterDelivered(entry_id, item.id, item.chat_id))
            self._log("info", f"dead letter {entry_id} (message {item.id}) delivered to chat "
                              f"{item.chat_id}")
        return Outcome.SENT

    def _log(self, level: str, text: str) -> None:
        self.bus.publish(HubLog(level, text))

    async def _failed(self, item: OutboxItem, exc: SendFailed) -> Outcome:
        attempt = item.attempts + 1
        what = (f"Telegram send failed ({exc.category}, "
                f"{'permanent' if exc.permanent else 'transient'}): message {item.id} "
                f"({item_summary(item.kind, item.payload)}) to chat {item.chat_id}, "
                f"attempt {attempt} of {self.policy.attempts}: {exc.reason}")
        if exc.uncertain:
            what += " (Telegram may have received it; a retry can show it twice)"
        if not exc.permanent and attempt < self.policy.attempts:
            wait = max(exc.retry_after or 0.0, self.policy.delay(attempt, self.rng))
            await outbox.mark_retry(self.db, item, exc.reason, self.clock() + wait)
            self._log("warning", f"{what}; next try in {wait:.2f} s")
            return Outcome.RETRY
        now = self.clock()
        async with self.db.transaction() as conn:
            await outbox.mark_dead(conn, item, exc.reason)
            entry = await deadletters.bury(
                conn, outbox_id=item.id, chat_id=item.chat_id, kind=item.kind,
                reason=exc.reason, error_type=exc.category, attempts=attempt, now=now,
                schedule=self.schedule)
            alerted = (await self._alert(conn, entry, now)
                       if entry.state == deadletters.ARCHIVED and entry.alerted_at is None
                       else 0)
        self.bus.publish(NotificationFailed(item.id, item.chat_id, exc.reason))
        self.bus.publish(DeadLettered(entry.id, item.id, item.chat_id, exc.reason,
                                      entry.cycles, entry.next_attempt_at))
        if entry.state == deadletters.ARCHIVED:
            self.bus.publish(DeadLetterArchived(entry.id, item.id, item.chat_id, exc.reason,
                                                alerted))
            self._log("error", f"{what}; dead letter {entry.id} archived after "
                               f"{entry.cycles} retry cycle(s); {alerted} admin chat(s) told")
        else:
            wait = (entry.next_attempt_at or now) - now
            self._log("error", f"{what}; moved to the dead-letter queue as entry {entry.id} "
                               f"(cycle {entry.cycles + 1} of {self.schedule.cycles} "
                               f"in {wait:g} s)")
        return Outcome.DEAD

    async def _alert(self, conn: aiosqlite.Connection, entry: DeadLetter, now: float) -> int:
        """Queue a plain-language alert for each admin; an alert about an alert is only logged."""
        if entry.kind == "dlq_alert":
            return 0
        admins = self.admins()
        if not admins:
            self._log("warning", f"dead letter {entry.id} archived, but [telegram] admins is "
                                 "empty: nobody can be told on Telegram")
            return 0
        payload = {"entry_id": entry.id, "chat_id": entry.chat_id, "since": entry.created_at,
                   "cycles": entry.cycles, "reason": entry.reason,
                   "what": item_summary(entry.kind, entry.payload)}
        for admin in admins:
            await outbox.enqueue(conn, chat_id=admin, kind="dlq_alert", payload=payload, now=now)
        await deadletters.mark_alerted(conn, entry.id, now)
        return len(admins)
