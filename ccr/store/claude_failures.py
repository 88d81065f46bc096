"""The `claude_failures` table: per server, the StopFailure that needs an admin (Claude Code
logged out, or refused for billing), kept until a later Stop from that server clears it."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from ccr.store.db import Database

SAID_CHARS = 300


@dataclass(frozen=True)
class ClaudeFailure:
    server_id: str
    error: str
    """StopFailure's kind, e.g. `authentication_failed`."""
    said: str
    """Claude's own words about it (its last message, clipped)."""
    at: float


async def record(conn: aiosqlite.Connection, server_id: str, error: str, said: str,
                 now: float) -> bool:
    """Remember the server's failure; False when the same kind was already recorded."""
    async with conn.execute("SELECT error FROM claude_failures WHERE server_id = ?",
                            (server_id,)) as cur:
        row = await cur.fetchone()
    await conn.execute(
        "INSERT INTO claude_failures (server_id, error, said, at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (server_id) DO UPDATE SET error = excluded.error, said = excluded.said, "
        "at = excluded.at", (server_id, error, said[:SAID_CHARS], now))
    return row is None or row[0] != error


async def clear(conn: aiosqlite.Connection, server_id: str) -> bool:
    """Claude answered on that server again; True when a failure was recorded."""
    cur = await conn.execute("DELETE FROM claude_failures WHERE server_id = ?", (server_id,))
    return cur.rowcount > 0


async def current(db: Database) -> dict[str, ClaudeFailure]:
    rows = await db.fetchall("SELECT server_id, error, said, at FROM claude_failures")
    return {str(r["server_id"]): ClaudeFailure(str(r["server_id"]), str(r["error"]),
                                               str(r["said"]), float(r["at"])) for r in rows}
