"""Commands table: every text a person asked to type, with its state."""

from __future__ import annotations

import sqlite3

import aiosqlite

from ccr.models import Command, CommandState

_SELECT = ("SELECT c.id, c.session_id, s.server_id || ':' || s.number AS handle, c.text, c.source, "
           "c.chat_id, c.state, c.error_code, c.error_text, c.created_at, c.finished_at, "
           "c.trace_id "
           "FROM commands c JOIN sessions s ON s.id = c.session_id")
SQL_GET = f"{_SELECT} WHERE c.id = ?"
SQL_RECENT = f"{_SELECT} ORDER BY c.created_at DESC LIMIT ?"
SQL_IN_STATE = f"{_SELECT} WHERE c.state IN (?) ORDER BY c.created_at"
"""The plan of `in_states` with one state (tests/integration/test_query_plans.py)."""


def from_row(row: sqlite3.Row) -> Command:
    return Command(
        id=row["id"], session_id=row["session_id"], handle=row["handle"], text=row["text"],
        source=row["source"], chat_id=row["chat_id"], state=CommandState(row["state"]),
        error_code=row["error_code"], error_text=row["error_text"],
        created_at=row["created_at"], finished_at=row["finished_at"], trace_id=row["trace_id"],
    )


async def insert(conn: aiosqlite.Connection, *, command_id: str, session_id: int, text: str,
                 source: str, chat_id: int | None, reply_to: int | None, now: float,
                 trace_id: str | None = None) -> Command:
    await conn.execute(
        "INSERT INTO commands (id, session_id, text, source, chat_id, reply_to, state, "
        "created_at, trace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (command_id, session_id, text, source, chat_id, reply_to, CommandState.PENDING, now,
         trace_id),
    )
    found = await get(conn, command_id)
    assert found is not None
    return found


async def set_state(conn: aiosqlite.Connection, command_id: str, state: CommandState, *,
                    now: float, error_code: str | None = None,
                    error_text: str | None = None) -> Command:
    final = state in (CommandState.DELIVERED, CommandState.FAILED, CommandState.UNCERTAIN)
    await conn.execute(
        "UPDATE commands SET state = ?, error_code = ?, error_text = ?, finished_at = ? "
        "WHERE id = ?",
        (state, error_code, error_text, now if final else None, command_id),
    )
    found = await get(conn, command_id)
    assert found is not None
    return found


async def get(conn: aiosqlite.Connection, command_id: str) -> Command | None:
    async with conn.execute(SQL_GET, (command_id,)) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def reply_to(conn: aiosqlite.Connection, command_id: str) -> int | None:
    async with conn.execute("SELECT reply_to FROM commands WHERE id = ?", (command_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else None


async def in_states(conn: aiosqlite.Connection, states: tuple[CommandState, ...]) -> list[Command]:
    marks = ", ".join("?" for _ in states)
    async with conn.execute(
        f"{_SELECT} WHERE c.state IN ({marks}) ORDER BY c.created_at", states
    ) as cur:
        return [from_row(r) for r in await cur.fetchall()]


async def recent(conn: aiosqlite.Connection, limit: int = 50) -> list[Command]:
    async with conn.execute(SQL_RECENT, (limit,)) as cur:
        return [from_row(r) for r in await cur.fetchall()]


async def seen_update(conn: aiosqlite.Connection, update_id: int, now: float) -> bool:
    """Record a Telegram update id; True when it was already there (a redelivery)."""
    cur = await conn.execute(
        "INSERT OR IGNORE INTO telegram_updates (update_id, received_at) VALUES (?, ?)",
        (update_id, now),
    )
    return cur.rowcount == 0
