"""The dead-letter queue's worker and the operations faces call (list, show, retry, purge).

Every `interval_s` the worker puts each dead letter whose time has come back in the outbox;
the delivery worker then gives it a fresh set of tries. A failure brings it back here with
the next cycle's wait (base, 2x, 4x ...); after the last cycle it is archived and the
admins are told (see `DeliveryWorker`). A retry by hand does the same, at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccr.core.errors import NotFoundError
from ccr.core.events import DeadLetterRetried, DeadLettersPurged, EventBus, HubLog
from ccr.core.outbox_items import item_summary
from ccr.core.redact import redact
from ccr.services import audit
from ccr.store import deadletters
from ccr.store.db import Database
from ccr.store.deadletters import DeadLetter, Schedule

MAX_ROW_ID = 2**63 - 1
"""The largest id SQLite can store; a larger number names no entry."""


@dataclass(frozen=True)
class RetryResult:
    """What a retry by hand did: `moved` is False when the entry was already on its way."""

    entry: DeadLetter
    moved: bool


class DeadLetterQueue:
    """Works the dead letters on schedule and on request."""

    def __init__(self, db: Database, bus: EventBus, *, schedule: Schedule, interval_s: float,
                 clock: Callable[[], float], wake: Callable[[], None]) -> None:
        self.db = db
        self.bus = bus
        self.schedule = schedule
        self.interval_s = interval_s
        self.clock = clock
        self.wake = wake

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # the next tick tries again; nothing is lost
                self.bus.publish(HubLog("error", f"dead-letter worker: {exc!r}"))
            await asyncio.sleep(self.interval_s)

    async def tick(self) -> int:
        """Put every dead letter that is due back in the outbox; how many moved."""
        moved = 0
        for entry in await deadletters.due(self.db, self.clock()):
            moved += await self._requeue(entry.id, by_hand=False) is not None
        return moved

    async def _requeue(self, entry_id: int, *, by_hand: bool) -> DeadLetter | None:
        entry, moved = await deadletters.requeue(self.db, entry_id, self.clock(),
                                                 by_hand=by_hand)
        if entry is None or not moved:
            return None
        by = "hand" if by_hand else "schedule"
        self.bus.publish(DeadLetterRetried(entry.id, entry.outbox_id, entry.chat_id, by,
                                           entry.cycles))
        self.bus.publish(HubLog("info", f"dead letter {entry.id} (message {entry.outbox_id} to "
                                        f"chat {entry.chat_id}) retried by {by}"
                                        + ("" if by_hand else f", cycle {entry.cycles} of "
                                                              f"{self.schedule.cycles}")))
        self.wake()
        return entry

    async def retry(self, entry_id: int) -> RetryResult:
        """Retry one entry now (queued or archived); NotFoundError when there is none."""
        if not 0 < entry_id <= MAX_ROW_ID:  # SQLite cannot even look one up
            raise NotFoundError("dlq_not_found", entry=entry_id)
        entry = await self._requeue(entry_id, by_hand=True)
        audit.note(outcome=f"dead letter {entry_id} " + ("back in line" if entry
                                                         else "not waiting"))
        if entry is not None:
            return RetryResult(entry, True)
        current = await deadletters.get(self.db, entry_id)
        if current is None:
            raise NotFoundError("dlq_not_found", entry=entry_id)
        return RetryResult(current, False)

    async def retry_all(self) -> list[DeadLetter]:
        """Retry every queued and archived entry now, in their messages' order."""
        waiting = await deadletters.entries(self.db, (deadletters.QUEUED, deadletters.ARCHIVED))
        moved = []
        for entry in waiting:
            done = await self._requeue(entry.id, by_hand=True)
            if done is not None:
                moved.append(done)
        audit.note(outcome=f"{len(moved)} dead letter(s) back in line")
        return moved

    async def purge(self, *, archived_only: bool) -> int:
        count = await deadletters.purge(self.db, archived_only=archived_only)
        audit.note(outcome=f"{count} dead letter(s) purged")
        self.bus.publish(DeadLettersPurged(count, archived_only))
        self.bus.publish(HubLog("warning", f"{count} dead letter(s) purged by hand"
                                           + (" (archived only)" if archived_only else "")))
        return count

    async def list(self, *, include_delivered: bool = False) -> list[DeadLetter]:
        states = deadletters.OPEN_STATES + ((deadletters.DELIVERED,) if include_delivered
                                            else ())
        return await deadletters.entries(self.db, states)

    async def get(self, entry_id: int) -> DeadLetter:
        entry = await deadletters.get(self.db, entry_id) if 0 < entry_id <= MAX_ROW_ID else None
        if entry is None:
            raise NotFoundError("dlq_not_found", entry=entry_id)
        return entry


def view(entry: DeadLetter, schedule: Schedule) -> dict[str, Any]:
    """A dead letter as the API, CLI and console show it (texts redacted)."""
    return {
        "id": entry.id, "outbox_id": entry.outbox_id, "chat_id": entry.chat_id,
        "kind": entry.kind, "what": redact(item_summary(entry.kind, entry.payload)),
        "state": entry.state, "reason": redact(entry.reason), "error_type": entry.error_type,
        "attempts": entry.attempts, "cycles": entry.cycles, "max_cycles": schedule.cycles,
        "next_attempt_at": entry.next_attempt_at, "created_at": entry.created_at,
        "updated_at": entry.updated_at, "archived_at": entry.archived_at,
        "alerted_at": entry.alerted_at, "delivered_at": entry.delivered_at,
    }
