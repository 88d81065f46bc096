"""In-process event bus: services publish typed events, faces and workers subscribe.

Subscribers get their own bounded queue, so a slow console never blocks the hub; when a
queue is full the oldest event is dropped for that subscriber only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ccr.core.models import Command, Session, SessionHealth


@dataclass(frozen=True)
class Event:
    """Base of every hub event."""


@dataclass(frozen=True)
class SessionUpdated(Event):
    session: Session
    created: bool
    kind: str
    summary: str


@dataclass(frozen=True)
class NotificationDelivered(Event):
    outbox_id: int
    chat_id: int
    session_handle: str | None


@dataclass(frozen=True)
class NotificationFailed(Event):
    outbox_id: int
    chat_id: int
    error: str


@dataclass(frozen=True)
class CommandChanged(Event):
    command: Command


@dataclass(frozen=True)
class ServerStateChanged(Event):
    server_id: str
    state: str  # "up" | "down" | "unknown"
    detail: str


@dataclass(frozen=True)
class BreakerStateChanged(Event):
    """A server's circuit breaker moved: "closed", "open" or "half_open"."""

    server_id: str
    previous: str
    state: str
    failures: int
    retry_at: float | None  # when an open breaker lets the next probe through
    reason: str


@dataclass(frozen=True)
class SessionHealthChanged(Event):
    """A health check (or the session's own hook) found its pane lost, unreachable or back."""

    session: Session
    health: SessionHealth
    reason: str


@dataclass(frozen=True)
class SessionEnded(Event):
    """Claude was ended from ccr (/stop, /restart): the session is no longer live."""

    session: Session
    how: str
    """"exit" (Claude left on /exit), "killed" (its pane was closed) or "gone" (it was)."""


@dataclass(frozen=True)
class HubLog(Event):
    """A line for the operator's log (starts, stops, warnings)."""

    level: str
    text: str


@dataclass(frozen=True)
class DeadLettered(Event):
    """A message's send attempts were spent; it waits in the dead-letter queue."""

    entry_id: int
    outbox_id: int
    chat_id: int
    reason: str
    cycles: int
    next_attempt_at: float | None


@dataclass(frozen=True)
class DeadLetterRetried(Event):
    """A dead letter went back to the outbox, on schedule or by hand."""

    entry_id: int
    outbox_id: int
    chat_id: int
    by: str  # "schedule" | "hand"
    cycle: int


@dataclass(frozen=True)
class DeadLetterDelivered(Event):
    """A dead letter was delivered after all."""

    entry_id: int
    outbox_id: int
    chat_id: int


@dataclass(frozen=True)
class DeadLetterArchived(Event):
    """A dead letter spent every retry cycle; it is kept, and the admins are told."""

    entry_id: int
    outbox_id: int
    chat_id: int
    reason: str
    alerted: int  # how many admin chats the alert was queued for


@dataclass(frozen=True)
class DeadLettersPurged(Event):
    """Dead letters were deleted by hand."""

    count: int
    archived_only: bool

class EventBus:
    """Fan-out of events to any number of subscribers."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self._size = queue_size

    def publish(self, event: Event) -> None:
        for q in self._queues:
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        q: asyncio.Queue[Event] = asyncio.Queue(self._size)
        self._queues.add(q)
        try:
            yield q
        finally:
            self._queues.discard(q)


@dataclass(frozen=True)
class AlertFired(Event):
    """An alert rule's condition holds: the admins are told (through the outbox)."""

    alert_id: int
    rule: str
    server: str | None
    message: str
    reminder: bool = False  # True: an unacknowledged alert still firing after its cooldown


@dataclass(frozen=True)
class AlertAcknowledged(Event):
    """Someone acknowledged an alert: it stays quiet until it resolves."""

    alert_id: int
    rule: str
    server: str | None
    by: str


@dataclass(frozen=True)
class AlertResolved(Event):
    """An alert's condition cleared."""

    alert_id: int
    rule: str
    server: str | None
    message: str


@dataclass(frozen=True)
class AuditRecorded(Event):
    """An entry was added to the audit log (ccr.services.audit)."""

    action: str
    actor: str
    refused: bool
