"""Delivery worker: sends the outbox to Telegram, in order per chat, with bounded retries.

The worker knows nothing of Telegram's API: a `Sender` (the Telegram face) renders and
sends one item and reports failures as `SendFailed`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from ccr.events import EventBus, HubLog, NotificationDelivered, NotificationFailed
from ccr.store import outbox
from ccr.store.db import Database
from ccr.store.outbox import OutboxItem

MAX_ATTEMPTS = 5


class SendFailed(Exception):
    """A send did not succeed. `permanent` ones are not retried."""

    def __init__(self, reason: str, *, retry_after: float | None = None,
                 permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, item: OutboxItem) -> int:
        """Send one outbox item; the Telegram message id."""
        ...


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): 1, 2, 4, 8, capped at 30."""
    return float(min(2 ** (attempt - 1), 30))


class DeliveryWorker:
    """Works the outbox whenever woken, and every second for retries that came due."""

    def __init__(self, db: Database, bus: EventBus, sender: Sender, *,
                 clock: Callable[[], float]) -> None:
        self.db = db
        self.bus = bus
        self.sender = sender
        self.clock = clock
        self._wake = asyncio.Event()
        self._sending = asyncio.Lock()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception as exc:  # keep delivering whatever a bad row did
                self.bus.publish(HubLog("error", f"delivery worker: {exc!r}"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    async def drain(self) -> int:
        """Send everything due now; returns how many were sent."""
        sent = 0
        while True:
            items = await outbox.due(self.db, self.clock())
            if not items:
                return sent
            progressed = False
            failed_chats: set[int] = set()
            for item in items:
                if item.chat_id in failed_chats:
                    continue  # keep this chat's order: nothing overtakes a failed message
                if await self._send(item):
                    sent += 1
                    progressed = True
                else:
                    failed_chats.add(item.chat_id)
            if not progressed:
                return sent

    async def settled(self, within: float = 2.0) -> None:
        """Wait for a send in flight to be recorded (a reply may race its message id)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._sending:
                pass

    async def _send(self, item: OutboxItem) -> bool:
        async with self._sending:
            return await self._send_one(item)

    async def _send_one(self, item: OutboxItem) -> bool:
        try:
            message_id = await self.sender.send(item)
        except SendFailed as exc:
            attempt = item.attempts + 1
            if exc.permanent or attempt >= MAX_ATTEMPTS:
                await outbox.mark_failed(self.db, item, exc.reason)
                self.bus.publish(NotificationFailed(item.id, item.chat_id, exc.reason))
                self.bus.publish(HubLog(
                    "error", f"message {item.id} to chat {item.chat_id} failed after "
                             f"{attempt} attempt(s): {exc.reason}"))
            else:
                wait = max(exc.retry_after or 0.0, backoff(attempt))
                await outbox.mark_retry(self.db, item, exc.reason, self.clock() + wait)
                self.bus.publish(HubLog("warning", f"message {item.id} attempt {attempt} failed "
                                                   f"({exc.reason}); retry in {wait:g} s"))
            return False
        await outbox.mark_sent(self.db, item, message_id, self.clock())
        self.bus.publish(NotificationDelivered(item.id, item.chat_id,
                                               str(item.payload.get("handle") or "") or None))
        return True
