"""The `alerts` table: one row per firing of a rule (and server), kept after it resolves."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import aiosqlite

from ccr.store.db import Database

FIRING = "firing"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
OPEN_STATES = (FIRING, ACKNOWLEDGED)
HISTORY_S = 30 * 86400
"""Resolved alerts older than this are deleted."""


@dataclass(frozen=True)
class Alert:
    id: int
    rule: str
    server: str | None
    state: str
    message: str
    value: float | None
    fired_at: float
    notified_at: float
    acknowledged_by: str | None
    acknowledged_at: float | None
    resolved_at: float | None

    @property
    def open(self) -> bool:
        return self.state != RESOLVED


_COLUMNS = ("id, rule, server, state, message, value, fired_at, notified_at, "
            "acknowledged_by, acknowledged_at, resolved_at")


def _alert(r: sqlite3.Row) -> Alert:
    return Alert(int(r["id"]), str(r["rule"]), str(r["server"]) or None, str(r["state"]),
                 str(r["message"]), r["value"], float(r["fired_at"]), float(r["notified_at"]),
                 r["acknowledged_by"], r["acknowledged_at"], r["resolved_at"])


async def insert(conn: aiosqlite.Connection, *, rule: str, server: str | None, message: str,
                 value: float | None, now: float) -> Alert:
    async with conn.execute(
        f"INSERT INTO alerts (rule, server, state, message, value, fired_at, notified_at) "  # nosec B608: only the constant column list is formatted in; values are bound
        f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        (rule, server or "", FIRING, message, value, now, now),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return _alert(row)


async def reminded(conn: aiosqlite.Connection, alert_id: int, *, message: str,
                   value: float | None, now: float) -> None:
    await conn.execute("UPDATE alerts SET notified_at = ?, message = ?, value = ? WHERE id = ?",
                       (now, message, value, alert_id))


async def acknowledge(conn: aiosqlite.Connection, alert_id: int, *, by: str,
                      now: float) -> bool:
    """Firing -> acknowledged; False when it was not firing (nothing changed)."""
    cur = await conn.execute(
        "UPDATE alerts SET state = ?, acknowledged_by = ?, acknowledged_at = ? "
        "WHERE id = ? AND state = ?", (ACKNOWLEDGED, by, now, alert_id, FIRING))
    return cur.rowcount == 1


async def resolve(conn: aiosqlite.Connection, alert_id: int, *, now: float) -> bool:
    cur = await conn.execute(
        "UPDATE alerts SET state = ?, resolved_at = ? WHERE id = ? AND state != ?",
        (RESOLVED, now, alert_id, RESOLVED))
    return cur.rowcount == 1


async def prune(conn: aiosqlite.Connection, now: float) -> None:
    await conn.execute("DELETE FROM alerts WHERE state = ? AND resolved_at < ?",
                       (RESOLVED, now - HISTORY_S))


async def get(db: Database, alert_id: int) -> Alert | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))  # nosec B608: only the constant column list is formatted in; values are bound
    return _alert(row) if row is not None else None


async def open_alerts(db: Database) -> list[Alert]:
    """Firing and acknowledged alerts, oldest first."""
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM alerts WHERE state != ? ORDER BY id",  # nosec B608: only the constant column list is formatted in; values are bound
                             (RESOLVED,))
    return [_alert(r) for r in rows]


async def recent(db: Database, limit: int = 50) -> list[Alert]:
    """Every state, newest first."""
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM alerts ORDER BY id DESC LIMIT ?",  # nosec B608: only the constant column list is formatted in; values are bound
                             (limit,))
    return [_alert(r) for r in rows]


async def last_fired(db: Database) -> dict[tuple[str, str | None], float]:
    """When each (rule, server) last fired: the cooldowns survive a restart."""
    rows = await db.fetchall("SELECT rule, server, MAX(fired_at) AS at FROM alerts "
                             "GROUP BY rule, server")
    return {(str(r["rule"]), str(r["server"]) or None): float(r["at"]) for r in rows}


async def messages(db: Database, alert_id: int) -> list[tuple[int, int]]:
    """(chat id, message id) of every Telegram message that announced this alert's firing."""
    rows = await db.fetchall(
        "SELECT chat_id, message_id FROM outbox WHERE kind = 'alert' AND state = 'sent' "
        "AND message_id IS NOT NULL AND json_extract(text, '$.id') = ? "
        "AND json_extract(text, '$.phase') != 'resolved'", (alert_id,))
    return [(int(r["chat_id"]), int(r["message_id"])) for r in rows]
