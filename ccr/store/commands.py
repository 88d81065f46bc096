"""Commands table: every text a person asked to type, with its state."""

from __future__ import annotations

import sqlite3

import aiosqlite

from ccr.core.models import FINAL_STATES, Command, CommandState

_SELECT = ("SELECT c.id, c.session_id, s.server_id || ':' || s.number AS handle, c.text, c.source, "
           "c.chat_id, c.state, c.error_code, c.error_text, c.created_at, c.finished_at, "
           "c.trace_id, c.typed_at, c.received_at, c.reply, c.progress_at, c.card_outbox_id, "
           "c.alias, c.retry_of, c.prompt_id "
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
        typed_at=row["typed_at"], received_at=row["received_at"], reply=row["reply"],
        progress_at=row["progress_at"], card_outbox_id=row["card_outbox_id"],
        alias=row["alias"], retry_of=row["retry_of"], prompt_id=row["prompt_id"],
    )


async def insert(conn: aiosqlite.Connection, *, command_id: str, session_id: int, text: str,
                 source: str, chat_id: int | None, reply_to: int | None, now: float,
                 trace_id: str | None = None, alias: str | None = None,
                 retry_of: str | None = None) -> Command:
    await conn.execute(
        "INSERT INTO commands (id, session_id, text, source, chat_id, reply_to, state, "
        "created_at, trace_id, alias, retry_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (command_id, session_id, text, source, chat_id, reply_to, CommandState.PENDING, now,
         trace_id, alias, retry_of),
    )
    await _transition(conn, command_id, CommandState.PENDING, now, source)
    found = await get(conn, command_id)
    assert found is not None
    return found


async def set_state(conn: aiosqlite.Connection, command_id: str, state: CommandState, *,
                    now: float, error_code: str | None = None,
                    error_text: str | None = None, reply: str | None = None,
                    expect: tuple[CommandState, ...] | None = None,
                    detail: str | None = None) -> Command | None:
    """Move a command on and record the step; None when `expect` no longer holds.

    `expect` makes the change conditional on the state read in the same transaction, so a
    Cancel and the typing (or a Stop and a timeout) can race without both winning.
    """
    where, args = "id = ?", [command_id]
    if expect is not None:
        where += f" AND state IN ({', '.join('?' for _ in expect)})"
        args += list(expect)
    cur = await conn.execute(
        "UPDATE commands SET state = ?, error_code = COALESCE(?, error_code), "  # nosec B608: only ? marks are formatted in; values are bound
        "error_text = COALESCE(?, error_text), reply = COALESCE(?, reply), "
        "typed_at = CASE WHEN ? THEN ? ELSE typed_at END, "
        f"finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE {where}",
        (state, error_code, error_text, reply, state is CommandState.EXECUTING, now,
         state in FINAL_STATES, now, *args),
    )
    if cur.rowcount == 0:
        return None
    await _transition(conn, command_id, state, now, detail or error_code)
    return await get(conn, command_id)


async def _transition(conn: aiosqlite.Connection, command_id: str, state: str, now: float,
                      detail: str | None) -> None:
    await conn.execute(
        "INSERT INTO command_events (command_id, state, at, detail) VALUES (?, ?, ?, ?)",
        (command_id, state, now, detail))


async def transitions(conn: aiosqlite.Connection,
                      command_id: str) -> list[tuple[str, float, str | None]]:
    """Each state the command went through, with when (and why, where known)."""
    async with conn.execute(
        "SELECT state, at, detail FROM command_events WHERE command_id = ? ORDER BY at, rowid",
        (command_id,),
    ) as cur:
        return [(r["state"], r["at"], r["detail"]) for r in await cur.fetchall()]


async def mark_received(conn: aiosqlite.Connection, session_id: int, prompt: str,
                        now: float, *, uncertain_since: float | None = None,
                        prompt_id: str | None = None) -> Command | None:
    """Claude reported `prompt`: the oldest typed, unconfirmed command with that text. It
    remembers Claude's `prompt_id` for that turn, when the hook told it.

    An UNCERTAIN one (ccr lost contact while typing it) is settled by this: it did arrive,
    so it is EXECUTING again, and its Stop completes it like any other.
    """
    async with conn.execute(
        f"{_SELECT} WHERE c.session_id = ? AND c.state IN (?, ?, ?) AND c.received_at IS NULL "
        "ORDER BY c.created_at",
        (session_id, CommandState.DISPATCHING, CommandState.EXECUTING, CommandState.UNCERTAIN),
    ) as cur:
        candidates = [from_row(r) for r in await cur.fetchall()]
    same = [c for c in candidates if c.is_prompt(prompt)]
    match = next((c for c in same if c.state is not CommandState.UNCERTAIN), None)
    if match is None:  # an uncertain one only when it ended recently (not days-old text)
        since = now - 1800.0 if uncertain_since is None else uncertain_since
        match = next((c for c in same if (c.finished_at or 0) >= since), None)
    if match is None:
        return None
    await conn.execute("UPDATE commands SET received_at = ?, prompt_id = ? WHERE id = ?",
                       (now, prompt_id, match.id))
    await _transition(conn, match.id, "received", now, None)
    if match.state is CommandState.UNCERTAIN:
        await conn.execute(
            "UPDATE commands SET state = ?, finished_at = NULL, error_code = NULL, "
            "error_text = NULL, typed_at = COALESCE(typed_at, ?) WHERE id = ?",
            (CommandState.EXECUTING, now, match.id))
        await _transition(conn, match.id, CommandState.EXECUTING, now, "arrived after all")
    return await get(conn, match.id)


async def running(conn: aiosqlite.Connection, session_id: int | None = None, *,
                  typing: bool = False) -> list[Command]:
    """Typed commands waiting for Claude's Stop (of one session, or all); with `typing`, also
    those still being typed (Claude may answer before ccr's Enter check is done)."""
    states = (CommandState.DISPATCHING, CommandState.EXECUTING) if typing else (
        CommandState.EXECUTING,)
    sql = f"{_SELECT} WHERE c.state IN ({', '.join('?' for _ in states)})"
    args: list[object] = list(states)
    if session_id is not None:
        sql += " AND c.session_id = ?"
        args.append(session_id)
    async with conn.execute(sql + " ORDER BY c.created_at", args) as cur:
        return [from_row(r) for r in await cur.fetchall()]


async def of_session(conn: aiosqlite.Connection, session_id: int,
                     states: tuple[CommandState, ...]) -> list[Command]:
    """One session's commands in these states, oldest first."""
    marks = ", ".join("?" for _ in states)
    async with conn.execute(
        f"{_SELECT} WHERE c.session_id = ? AND c.state IN ({marks}) ORDER BY c.created_at",
        (session_id, *states),
    ) as cur:
        return [from_row(r) for r in await cur.fetchall()]


async def set_card(conn: aiosqlite.Connection, command_id: str, outbox_id: int) -> None:
    await conn.execute("UPDATE commands SET card_outbox_id = ? WHERE id = ?",
                       (outbox_id, command_id))


async def set_progress(conn: aiosqlite.Connection, command_id: str, now: float) -> None:
    await conn.execute("UPDATE commands SET progress_at = ? WHERE id = ?", (now, command_id))


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
