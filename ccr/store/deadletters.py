"""Dead letters: outbox rows whose send attempts are spent, retried slowly, then archived.

The outbox row keeps the payload (state 'dead'); the dead_letters row says why and when it
is tried again. States: queued -> retrying (back in the outbox) -> delivered, or queued again,
or archived once every cycle is spent. Moves are conditional updates, so a retry by hand and
one on schedule cannot both put a message back in the outbox.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ccr.store.db import Database

QUEUED = "queued"
RETRYING = "retrying"
ARCHIVED = "archived"
DELIVERED = "delivered"
OPEN_STATES = (QUEUED, RETRYING, ARCHIVED)


@dataclass(frozen=True)
class Schedule:
    """When dead letters are retried: base, 2 x base, 4 x base ... for `cycles` cycles."""

    base_s: float = 60.0
    cycles: int = 5

    def next_at(self, cycles_done: int, now: float) -> float | None:
        """When cycle `cycles_done + 1` is due, or None once every cycle is spent."""
        if cycles_done >= self.cycles:
            return None
        return now + self.base_s * 2.0 ** cycles_done


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter with its message's payload."""

    id: int
    outbox_id: int
    chat_id: int
    kind: str
    reason: str
    error_type: str
    attempts: int
    cycles: int
    state: str
    next_attempt_at: float | None
    created_at: float
    updated_at: float
    archived_at: float | None
    alerted_at: float | None
    delivered_at: float | None
    payload: dict[str, Any]


_SELECT = ("SELECT d.*, o.text AS payload FROM dead_letters d "
           "JOIN outbox o ON o.id = d.outbox_id ")


def _entry(r: sqlite3.Row) -> DeadLetter:
    return DeadLetter(
        id=int(r["id"]), outbox_id=int(r["outbox_id"]), chat_id=int(r["chat_id"]),
        kind=r["kind"], reason=r["reason"], error_type=r["error_type"],
        attempts=int(r["attempts"]), cycles=int(r["cycles"]), state=r["state"],
        next_attempt_at=r["next_attempt_at"], created_at=float(r["created_at"]),
        updated_at=float(r["updated_at"]), archived_at=r["archived_at"],
        alerted_at=r["alerted_at"], delivered_at=r["delivered_at"],
        payload=json.loads(r["payload"]),
    )


async def _one(conn: aiosqlite.Connection, where: str, params: tuple[object, ...]
               ) -> DeadLetter | None:
    async with conn.execute(_SELECT + where, params) as cur:
        row = await cur.fetchone()
    return _entry(row) if row is not None else None


async def bury(conn: aiosqlite.Connection, *, outbox_id: int, chat_id: int, kind: str,
               reason: str, error_type: str, attempts: int, now: float,
               schedule: Schedule) -> DeadLetter:
    """Queue (or re-queue) a message whose attempts are spent; archive it after the last cycle.

    Runs inside the caller's transaction, the one that marks the outbox row 'dead'.
    """
    async with conn.execute("SELECT cycles FROM dead_letters WHERE outbox_id = ?",
                            (outbox_id,)) as cur:
        row = await cur.fetchone()
    cycles = int(row[0]) if row is not None else 0
    next_at = schedule.next_at(cycles, now)
    state = QUEUED if next_at is not None else ARCHIVED
    archived_at = now if state == ARCHIVED else None
    if row is None:
        await conn.execute(
            "INSERT INTO dead_letters (outbox_id, chat_id, kind, reason, error_type, attempts, "
            "state, next_attempt_at, created_at, updated_at, archived_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (outbox_id, chat_id, kind, reason, error_type, attempts, state, next_at, now, now,
             archived_at),
        )
    else:
        await conn.execute(
            "UPDATE dead_letters SET reason = ?, error_type = ?, attempts = attempts + ?, "
            "state = ?, next_attempt_at = ?, updated_at = ?, "
            "archived_at = COALESCE(archived_at, ?) WHERE outbox_id = ?",
            (reason, error_type, attempts, state, next_at, now, archived_at, outbox_id),
        )
    entry = await _one(conn, "WHERE d.outbox_id = ?", (outbox_id,))
    assert entry is not None
    return entry


async def mark_alerted(conn: aiosqlite.Connection, entry_id: int, now: float) -> None:
    await conn.execute("UPDATE dead_letters SET alerted_at = ? WHERE id = ?", (now, entry_id))


async def delivered(conn: aiosqlite.Connection, outbox_id: int, now: float) -> int | None:
    """Mark the dead letter of a message just sent as delivered; its id, if it had one."""
    async with conn.execute(
        "UPDATE dead_letters SET state = ?, delivered_at = ?, updated_at = ?, "
        "next_attempt_at = NULL WHERE outbox_id = ? AND state = ? RETURNING id",
        (DELIVERED, now, now, outbox_id, RETRYING),
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else None


async def requeue(db: Database, entry_id: int, now: float, *,
                  by_hand: bool) -> tuple[DeadLetter | None, bool]:
    """Put a queued or archived dead letter back in the outbox, at its old place in line.

    Returns the entry and whether this call moved it. A scheduled retry counts a cycle; one
    by hand does not. The outbox row gets a fresh set of attempts.
    """
    async with db.transaction() as conn:
        entry = await _one(conn, "WHERE d.id = ?", (entry_id,))
        if entry is None or entry.state not in (QUEUED, ARCHIVED):
            return entry, False
        await conn.execute(
            "UPDATE dead_letters SET state = ?, cycles = cycles + ?, next_attempt_at = NULL, "
            "updated_at = ? WHERE id = ?", (RETRYING, 0 if by_hand else 1, now, entry_id),
        )
        await conn.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ? "
            "WHERE id = ? AND state = 'dead'", (now, entry.outbox_id),
        )
        moved = await _one(conn, "WHERE d.id = ?", (entry_id,))
    return moved, True


SQL_DUE = (_SELECT + "WHERE d.state = ? AND d.chat_id IN (SELECT h.chat_id FROM dead_letters h "  # nosec B608: only ? marks and constant SQL are formatted in; values are bound
           "WHERE h.state = ? AND h.next_attempt_at <= ? AND h.outbox_id = (SELECT MIN(outbox_id) "
           "FROM dead_letters WHERE state = ? AND chat_id = h.chat_id)) ORDER BY d.outbox_id")
"""The DLQ worker's query, a constant string (cached statement; plan checked in a test)."""


async def due(db: Database, now: float) -> list[DeadLetter]:
    """Queued dead letters of each chat whose oldest queued one is due, in message order.

    A chat's dead letters go back together, behind its oldest: retried one by one on their
    own clocks, a later message could get through before an earlier one.
    """
    rows = await db.fetchall(
        SQL_DUE, (QUEUED, QUEUED, now, QUEUED))
    return [_entry(r) for r in rows]


async def get(db: Database, entry_id: int) -> DeadLetter | None:
    row = await db.fetchone(_SELECT + "WHERE d.id = ?", (entry_id,))
    return _entry(row) if row is not None else None


async def entries(db: Database, states: tuple[str, ...] = OPEN_STATES) -> list[DeadLetter]:
    """Dead letters in `states`, in their messages' order."""
    marks = ", ".join("?" for _ in states)
    rows = await db.fetchall(_SELECT + f"WHERE d.state IN ({marks}) ORDER BY d.outbox_id",
                             tuple(states))
    return [_entry(r) for r in rows]


async def purge(db: Database, *, archived_only: bool) -> int:
    """Delete archived and delivered dead letters (and queued ones unless `archived_only`).

    The outbox row stays as 'failed', so the message still leaves a trace.
    """
    states = (ARCHIVED, DELIVERED) if archived_only else (QUEUED, ARCHIVED, DELIVERED)
    marks = ", ".join("?" for _ in states)
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE outbox SET state = 'failed', "  # nosec B608: only ? marks and constant SQL are formatted in; values are bound
            "last_error = COALESCE(last_error, '') || ' (dead letter purged by hand)' "
            f"WHERE state = 'dead' AND id IN (SELECT outbox_id FROM dead_letters "
            f"WHERE state IN ({marks}))", states,
        )
        async with conn.execute(f"DELETE FROM dead_letters WHERE state IN ({marks})",  # nosec B608: only ? marks and constant SQL are formatted in; values are bound
                                states) as cur:
            count = cur.rowcount
    return int(count)


async def counts(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT state, COUNT(*) AS n FROM dead_letters GROUP BY state")
    return {r["state"]: int(r["n"]) for r in rows}
