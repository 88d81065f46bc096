"""One circuit breaker per server, announced on the event bus and kept in the store.

Every transition publishes `BreakerStateChanged` (plus a log line) and is written to the
`breakers` table, so a restarted hub still refuses a server whose breaker was open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ccr.core.events import BreakerStateChanged, EventBus, HubLog
from ccr.reliability.breaker import (
    Breaker,
    BreakerPolicy,
    BreakerRecord,
    BreakerState,
    Transition,
    refusal,
)
from ccr.store import breakers as rows
from ccr.store.db import Database

Persist = Callable[[BreakerRecord], Awaitable[None]]
Announce = Callable[[str, BreakerState, BreakerRecord], None]


class BreakerBoard:
    """One breaker per server; transitions are announced and persisted."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float], *,
                 persist: Persist | None = None, announce: Announce | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self._persist = persist
        self._announce = announce
        self.listeners: list[Callable[[str, BreakerRecord], None]] = []
        self._breakers: dict[str, Breaker] = {}

    def load(self, records: list[BreakerRecord]) -> None:
        """Restore persisted breakers (at start, before any operation)."""
        for record in records:
            self._breakers[record.server_id] = Breaker(record.server_id, self.policy,
                                                       self.clock, record)

    def get(self, server_id: str) -> Breaker:
        breaker = self._breakers.get(server_id)
        if breaker is None:
            breaker = self._breakers[server_id] = Breaker(server_id, self.policy, self.clock)
        return breaker

    def forget(self, server_id: str) -> None:
        """The server left the configuration: a server added again under its id starts
        with a closed breaker (the stored row is overwritten at its next change)."""
        self._breakers.pop(server_id, None)

    def states(self) -> dict[str, BreakerRecord]:
        return {sid: b.record for sid, b in self._breakers.items()}

    async def admit(self, server_id: str) -> None:
        """Let an operation through, or raise `server_unavailable` at once (no network)."""
        breaker = self.get(server_id)
        allowed, transition = breaker.admit()
        await self._changed(server_id, transition)
        if not allowed:
            raise refusal(breaker, self.clock())

    def release(self, server_id: str) -> None:
        self.get(server_id).release()

    async def success(self, server_id: str) -> None:
        await self._changed(server_id, self.get(server_id).success())

    async def failure(self, server_id: str, reason: str) -> None:
        await self._changed(server_id, self.get(server_id).failure(reason))

    async def _changed(self, server_id: str, transition: Transition | None) -> None:
        if transition is None:
            return
        previous, record = transition
        if self._announce is not None:
            self._announce(server_id, previous, record)
        for listener in self.listeners:
            listener(server_id, record)
        if self._persist is not None:
            await self._persist(record)


def announce_on(bus: EventBus) -> Announce:
    """Publish a transition as an event and an operator log line."""

    def announce(server_id: str, previous: BreakerState, record: BreakerRecord) -> None:
        bus.publish(BreakerStateChanged(server_id, previous.value, record.state.value,
                                        record.failures, record.next_probe_at,
                                        record.last_error or ""))
        level = "warning" if record.state is BreakerState.OPEN else "info"
        text = f"breaker of {server_id}: {previous.value} -> {record.state.value}"
        if record.state is BreakerState.OPEN:
            text += f" after {record.failures} failure(s) ({record.last_error or '?'})"
        bus.publish(HubLog(level, text))

    return announce


def persist_in(db: Database) -> Persist:
    async def persist(record: BreakerRecord) -> None:
        async with db.transaction() as conn:
            await rows.save(conn, record)

    return persist


def build_board(policy: BreakerPolicy, db: Database, bus: EventBus,
                clock: Callable[[], float]) -> BreakerBoard:
    """The hub's board: transitions announced on `bus` and persisted in `db`."""
    return BreakerBoard(policy, clock, persist=persist_in(db), announce=announce_on(bus))


async def load_board(board: BreakerBoard, db: Database) -> None:
    """Restore the persisted breakers (call once the database is open)."""
    async with db.reading() as conn:
        board.load(await rows.load_all(conn))


def probe_due(board: BreakerBoard | None, server_id: str, now: float,
              regular: float) -> float:
    """When the periodic server probe should next run, given the breaker's state.

    Open: only at half-open time. Half-open: again soon, until enough successes close it.
    """
    if board is None:
        return regular
    breaker = board.get(server_id)
    if breaker.state is BreakerState.OPEN:
        return breaker.retry_at() or regular
    if breaker.state is BreakerState.HALF_OPEN:
        return min(regular, now + max(0.05, board.policy.open_s / 10))
    return regular
