"""Sessions table: one row per Claude Code pane, with a handle and a token."""

from __future__ import annotations

import secrets
import sqlite3

import aiosqlite

from ccr.models import Session

TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
COLUMNS = ("id, server_id, number, token, pane_id, tmux_socket, tmux_session, claude_session_id, "
           "project, last_event, last_prompt, last_reply, created_at, updated_at, expires_at")


def new_token() -> str:
    """8 characters a person can read aloud: no 0/o, 1/l/i."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(8))


def from_row(row: sqlite3.Row) -> Session:
    return Session(**{k: row[k] for k in row.keys() if k != "pane_key"})  # noqa: SIM118


def pane_key(pane_id: str | None, socket: str | None, claude_session_id: str | None) -> str:
    """What identifies 'the same session': the pane on its tmux server, else Claude's id."""
    if pane_id:
        return f"pane:{socket or ''}:{pane_id}"
    return f"claude:{claude_session_id or ''}"


async def find_live_by_pane(conn: aiosqlite.Connection, server_id: str, key: str,
                            now: float) -> Session | None:
    async with conn.execute(
        f"SELECT {COLUMNS} FROM sessions WHERE server_id = ? AND pane_key = ? AND expires_at > ? "
        "ORDER BY id DESC LIMIT 1", (server_id, key, now),
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def insert(conn: aiosqlite.Connection, *, server_id: str, key: str, fields: dict[str, object],
                 now: float, expires_at: float) -> Session:
    async with conn.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM sessions WHERE server_id = ?", (server_id,)
    ) as cur:
        row = await cur.fetchone()
    number = int(row[0]) if row else 1
    while True:
        token = new_token()
        async with conn.execute("SELECT 1 FROM sessions WHERE token = ?", (token,)) as cur:
            if await cur.fetchone() is None:
                break
    cols = ["server_id", "number", "token", "pane_key", "created_at", "updated_at", "expires_at",
            *fields]
    vals = [server_id, number, token, key, now, now, expires_at, *fields.values()]
    marks = ", ".join("?" for _ in cols)
    async with conn.execute(
        f"INSERT INTO sessions ({', '.join(cols)}) VALUES ({marks}) RETURNING {COLUMNS}", vals
    ) as cur:
        new = await cur.fetchone()
    assert new is not None
    return from_row(new)


async def update(conn: aiosqlite.Connection, session_id: int, fields: dict[str, object],
                 now: float, expires_at: float) -> Session:
    sets = ", ".join(f"{k} = COALESCE(?, {k})" for k in fields)
    async with conn.execute(
        f"UPDATE sessions SET {sets}, updated_at = ?, expires_at = ? WHERE id = ? "
        f"RETURNING {COLUMNS}",
        (*fields.values(), now, expires_at, session_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return from_row(row)


async def by_handle(conn: aiosqlite.Connection, server_id: str, number: int,
                    now: float) -> Session | None:
    async with conn.execute(
        f"SELECT {COLUMNS} FROM sessions WHERE server_id = ? AND number = ? AND expires_at > ?",
        (server_id, number, now),
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def by_token(conn: aiosqlite.Connection, token: str, now: float) -> Session | None:
    async with conn.execute(
        f"SELECT {COLUMNS} FROM sessions WHERE token = ? AND expires_at > ?", (token, now)
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def by_id(conn: aiosqlite.Connection, session_id: int) -> Session | None:
    async with conn.execute(f"SELECT {COLUMNS} FROM sessions WHERE id = ?", (session_id,)) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def live(conn: aiosqlite.Connection, now: float) -> list[Session]:
    async with conn.execute(
        f"SELECT {COLUMNS} FROM sessions WHERE expires_at > ? ORDER BY server_id, number", (now,)
    ) as cur:
        return [from_row(r) for r in await cur.fetchall()]


async def by_message(conn: aiosqlite.Connection, chat_id: int, message_id: int) -> Session | None:
    async with conn.execute(
        f"SELECT {', '.join('s.' + c.strip() for c in COLUMNS.split(','))} FROM messages m "
        "JOIN sessions s ON s.id = m.session_id WHERE m.chat_id = ? AND m.message_id = ?",
        (chat_id, message_id),
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None
