"""Sessions table: one row per Claude Code pane, with a handle and a token."""

from __future__ import annotations

import re
import secrets
import sqlite3

import aiosqlite

from ccr.core.models import Session, SessionHealth

TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
COLUMNS = ("id, server_id, number, token, pane_id, tmux_socket, tmux_session, claude_session_id, "
           "project, last_event, last_prompt, last_reply, created_at, updated_at, expires_at, "
           "health, lost_at, ended_at, ended_sent_at")
_COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _checked(fields: dict[str, object]) -> dict[str, object]:
    """The fields, after checking each name is a plain column name: names are formatted into
    the SQL (values never are)."""
    odd = [k for k in fields if not _COLUMN_NAME.fullmatch(k)]
    if odd:
        raise ValueError(f"not column names: {odd!r}")
    return fields


# Hot statements as constant strings: sqlite3 caches prepared statements by their SQL text,
# so each is compiled once per connection. tests/integration/test_query_plans.py checks the
# plan of each (an index, never a scan of the table).
SQL_BY_PANE = (f"SELECT {COLUMNS} FROM sessions WHERE server_id = ? AND pane_key = ? "  # nosec B608: only the constant column list is formatted in; values are bound
               "AND expires_at > ? ORDER BY id DESC LIMIT 1")
SQL_NEXT_NUMBER = "SELECT COALESCE(MAX(number), 0) + 1 FROM sessions WHERE server_id = ?"
SQL_TOKEN_TAKEN = "SELECT 1 FROM sessions WHERE token = ?"
SQL_BY_HANDLE = (f"SELECT {COLUMNS} FROM sessions WHERE server_id = ? AND number = ? "  # nosec B608: only the constant column list is formatted in; values are bound
                 "AND expires_at > ?")
SQL_BY_TOKEN = f"SELECT {COLUMNS} FROM sessions WHERE token = ? AND expires_at > ?"  # nosec B608: only the constant column list is formatted in; values are bound
SQL_BY_ID = f"SELECT {COLUMNS} FROM sessions WHERE id = ?"  # nosec B608: only the constant column list is formatted in; values are bound
SQL_LIVE = (f"SELECT {COLUMNS} FROM sessions INDEXED BY sessions_by_expiry "  # nosec B608: only the constant column list is formatted in; values are bound
            "WHERE expires_at > ? ORDER BY server_id, number")
"""Expired rows are kept (handles are never reused), so the planner's favourite, a scan in
handle order, would read them all; the expiry index reads only live ones, sorted after."""
SQL_BY_MESSAGE = (f"SELECT {', '.join('s.' + c.strip() for c in COLUMNS.split(','))} "  # nosec B608: only the constant column list is formatted in; values are bound
                  "FROM messages m JOIN sessions s ON s.id = m.session_id "
                  "WHERE m.chat_id = ? AND m.message_id = ?")
SQL_LOST_IN_TMUX_SESSION = (f"SELECT {COLUMNS} FROM sessions WHERE server_id = ? "  # nosec B608: only the constant column list is formatted in; values are bound
                            "AND tmux_session = ? AND COALESCE(tmux_socket, '') = ? "
                            "AND health != 'ok' AND expires_at > ? ORDER BY id DESC LIMIT 1")
SQL_SET_HEALTH = ("UPDATE sessions SET health = ?, lost_at = CASE WHEN ? = 'ok' THEN NULL "  # nosec B608: only the constant column list is formatted in; values are bound
                  "ELSE COALESCE(lost_at, ?) END, pane_id = COALESCE(?, pane_id), "
                  f"pane_key = COALESCE(?, pane_key) WHERE id = ? RETURNING {COLUMNS}")
SQL_ENDED_BY_PANE = (f"SELECT {COLUMNS} FROM sessions WHERE server_id = ? AND pane_key = ? "  # nosec B608: only the constant column list is formatted in; values are bound
                     "AND expires_at > ? AND ended_at IS NOT NULL ORDER BY id DESC LIMIT 1")
"""The latest session of a pane that ended (its expiry set to the end) after a given time."""
SQL_END = ("UPDATE sessions SET ended_at = ?, ended_sent_at = ?, "
           "expires_at = MIN(expires_at, ?) WHERE id = ? "  # nosec B608: only the constant column list is formatted in; values are bound
           f"RETURNING {COLUMNS}")
SQL_REOPEN = "UPDATE sessions SET ended_at = NULL, ended_sent_at = NULL WHERE id = ?"
SQL_EXTEND = ("UPDATE sessions SET expires_at = ?, last_used_at = ? WHERE id = ? "  # nosec B608: only the constant column list is formatted in; values are bound
              f"RETURNING {COLUMNS}")


def new_token() -> str:
    """8 characters a person can read aloud: no 0/o, 1/l/i."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(8))


def from_row(row: sqlite3.Row) -> Session:
    values = {k: row[k] for k in row.keys() if k != "pane_key"}  # noqa: SIM118
    values["health"] = SessionHealth(values.get("health") or "ok")
    return Session(**values)


def pane_key(pane_id: str | None, socket: str | None, claude_session_id: str | None) -> str:
    """What identifies 'the same session': the pane on its tmux server, else Claude's id."""
    if pane_id:
        return f"pane:{socket or ''}:{pane_id}"
    return f"claude:{claude_session_id or ''}"


async def find_live_by_pane(conn: aiosqlite.Connection, server_id: str, key: str,
                            now: float) -> Session | None:
    async with conn.execute(
        SQL_BY_PANE, (server_id, key, now),
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def insert(conn: aiosqlite.Connection, *, server_id: str, key: str, fields: dict[str, object],
                 now: float, expires_at: float) -> Session:
    async with conn.execute(
        SQL_NEXT_NUMBER, (server_id,)
    ) as cur:
        row = await cur.fetchone()
    number = int(row[0]) if row else 1
    while True:
        token = new_token()
        async with conn.execute(SQL_TOKEN_TAKEN, (token,)) as cur:
            if await cur.fetchone() is None:
                break
    cols = ["server_id", "number", "token", "pane_key", "created_at", "updated_at", "expires_at",
            *_checked(fields)]
    vals = [server_id, number, token, key, now, now, expires_at, *fields.values()]
    marks = ", ".join("?" for _ in cols)
    async with conn.execute(
        f"INSERT INTO sessions ({', '.join(cols)}) VALUES ({marks}) RETURNING {COLUMNS}", vals  # nosec B608: column names checked by _checked; values are bound
    ) as cur:
        new = await cur.fetchone()
    assert new is not None
    return from_row(new)


async def update(conn: aiosqlite.Connection, session_id: int, fields: dict[str, object],
                 now: float, expires_at: float) -> Session:
    sets = ", ".join(f"{k} = COALESCE(?, {k})" for k in _checked(fields))
    async with conn.execute(
        f"UPDATE sessions SET {sets}, updated_at = ?, expires_at = ? WHERE id = ? "  # nosec B608: column names checked by _checked; values are bound
        f"RETURNING {COLUMNS}",
        (*fields.values(), now, expires_at, session_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return from_row(row)


async def by_handle(conn: aiosqlite.Connection, server_id: str, number: int,
                    now: float) -> Session | None:
    async with conn.execute(
        SQL_BY_HANDLE, (server_id, number, now),
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def by_token(conn: aiosqlite.Connection, token: str, now: float) -> Session | None:
    async with conn.execute(
        SQL_BY_TOKEN, (token, now)
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def by_id(conn: aiosqlite.Connection, session_id: int) -> Session | None:
    async with conn.execute(SQL_BY_ID, (session_id,)) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def live(conn: aiosqlite.Connection, now: float) -> list[Session]:
    async with conn.execute(
        SQL_LIVE, (now,)
    ) as cur:
        return [from_row(r) for r in await cur.fetchall()]


async def by_message(conn: aiosqlite.Connection, chat_id: int, message_id: int) -> Session | None:
    async with conn.execute(
        SQL_BY_MESSAGE, (chat_id, message_id),
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def find_lost_in_tmux_session(conn: aiosqlite.Connection, server_id: str,
                                    socket: str | None, tmux_session: str,
                                    now: float) -> Session | None:
    """A live session marked lost whose tmux session (by name, same socket) is back."""
    async with conn.execute(
        SQL_LOST_IN_TMUX_SESSION, (server_id, tmux_session, socket or "", now),
    ) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def set_health(conn: aiosqlite.Connection, session_id: int, health: SessionHealth,
                     *, pane_id: str | None, key: str | None, now: float) -> Session:
    """Record a health change; a restored session may have moved to a new pane."""
    async with conn.execute(
        SQL_SET_HEALTH,
        (health.value, health.value, now, pane_id, key, session_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return from_row(row)


SQL_CLOSE = ("UPDATE sessions SET ended_at = NULL, expires_at = MIN(expires_at, ?) WHERE id = ? "  # nosec B608: only the constant column list is formatted in; values are bound
             f"RETURNING {COLUMNS}")
"""Ended from ccr (/stop): final, unlike an `end` (ended_at set), which Claude Code running in
the same pane again brings back; a stopped session's pane id may be another program's later."""
SQL_RECENT_PROJECTS = ("SELECT MAX(id) AS id, project FROM sessions WHERE server_id = ? "
                       "AND project IS NOT NULL AND project != '' GROUP BY project "
                       "ORDER BY MAX(updated_at) DESC LIMIT ?")


async def close(conn: aiosqlite.Connection, session_id: int, now: float) -> Session:
    """Claude was ended from ccr: the session is no longer live, for good (the row, its
    handle and its history stay)."""
    async with conn.execute(SQL_CLOSE, (now, session_id)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return from_row(row)


async def recent_projects(conn: aiosqlite.Connection, server_id: str,
                          limit: int) -> list[tuple[int, str]]:
    """The directories sessions on a server ran in, most recently active first, each with
    the id of its latest session: (session id, directory)."""
    async with conn.execute(SQL_RECENT_PROJECTS, (server_id, limit)) as cur:
        return [(int(r["id"]), str(r["project"])) for r in await cur.fetchall()]


async def extend(conn: aiosqlite.Connection, session_id: int, expires_at: float,
                 now: float) -> Session:
    """Push a session's expiry out (it was used close to it)."""
    async with conn.execute(
        SQL_EXTEND,
        (expires_at, now, session_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return from_row(row)


async def end(conn: aiosqlite.Connection, session_id: int, now: float,
              sent_at: float | None = None) -> Session:
    """Claude Code ended in this session: it is no longer live (kept to be brought back).
    `sent_at`: when its hook sent the goodbye, on the server's clock."""
    async with conn.execute(SQL_END, (now, sent_at, now, session_id)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return from_row(row)


async def find_ended_by_pane(conn: aiosqlite.Connection, server_id: str, key: str,
                             since: float) -> Session | None:
    """The pane's session that ended after `since` (a later event from it brings it back)."""
    async with conn.execute(SQL_ENDED_BY_PANE, (server_id, key, since)) as cur:
        row = await cur.fetchone()
    return from_row(row) if row else None


async def reopen(conn: aiosqlite.Connection, session_id: int) -> None:
    await conn.execute(SQL_REOPEN, (session_id,))
