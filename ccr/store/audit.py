"""The `audit` table: one row per action, appended, never changed; deleted only by age."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from ccr.store.db import Database


@dataclass(frozen=True)
class Entry:
    """Who did what, where, with what outcome (texts already redacted)."""

    at: float
    face: str
    """telegram, console, api or cli."""
    actor: str
    """telegram:<user id>, console, or api:<token name>."""
    actor_name: str
    action: str
    what: str
    server: str | None
    session: str | None
    outcome: str
    refused: bool
    trace_id: str | None
    id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = ("at, face, actor, actor_name, action, what, server, session, outcome, refused, "
            "trace_id")


def _entry(r: sqlite3.Row) -> Entry:
    return Entry(float(r["at"]), str(r["face"]), str(r["actor"]), str(r["actor_name"]),
                 str(r["action"]), str(r["what"]), r["server"], r["session"],
                 str(r["outcome"]), bool(r["refused"]), r["trace_id"], int(r["id"]))


async def append(db: Database, entry: Entry, key: str | None) -> bool:
    """Add an entry; False when `key` was already recorded (a redelivery: nothing added)."""
    async with db.transaction() as conn:
        cur = await conn.execute(
            f"INSERT OR IGNORE INTO audit ({_COLUMNS}, key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.at, entry.face, entry.actor, entry.actor_name, entry.action, entry.what,
             entry.server, entry.session, entry.outcome, int(entry.refused), entry.trace_id,
             key))
        return cur.rowcount == 1


async def recent(db: Database, *, since: float, who: str | None = None,
                 limit: int = 200) -> list[Entry]:
    """Entries at or after `since`, newest first; `who` matches part of the actor or its
    name, or the whole face (case-insensitive)."""
    sql = f"SELECT id, {_COLUMNS} FROM audit WHERE at >= ?"  # nosec B608: only the constant column list is formatted in; values are bound
    params: list[object] = [since]
    if who:
        sql += (" AND (instr(lower(actor), ?) > 0 OR instr(lower(actor_name), ?) > 0"
                " OR lower(face) = ?)")
        params += [who.lower(), who.lower(), who.lower()]
    sql += " ORDER BY at DESC, id DESC LIMIT ?"
    params.append(limit)
    return [_entry(r) for r in await db.fetchall(sql, tuple(params))]

