"""Topics table: the forum topic of each session in the topics chat, and the thread a
command was typed in (so its later messages go back there).

A row is reserved (state `creating`, a placeholder thread id) BEFORE Telegram is asked to
create the topic, and completed after. A hub that dies in between leaves the reservation,
so the next start knows a topic may exist that nobody recorded (an orphan, never used)
instead of silently believing there was none.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ccr.core.models import Session, SessionHealth
from ccr.store.sessions import COLUMNS

CREATING = "creating"
OPEN = "open"
CLOSED = "closed"
GENERAL = 0
"""A thread id meaning "the chat's General topic, on purpose" (Telegram's own ids are > 1)."""

_TOPIC = ("t.chat_id AS t_chat_id, t.session_id AS t_session_id, t.thread_id AS t_thread_id, "
          "t.name AS t_name, t.state AS t_state, t.created_at AS t_created_at")
_NAMES = [c.strip() for c in COLUMNS.split(",")]
_SESSION = ", ".join("s." + c for c in _NAMES)


@dataclass(frozen=True)
class Topic:
    chat_id: int
    session_id: int
    thread_id: int
    name: str
    state: str
    created_at: float

    @property
    def usable(self) -> bool:
        """Telegram has it (open or closed), as opposed to a reservation."""
        return self.state != CREATING


def _topic(row: sqlite3.Row) -> Topic:
    return Topic(int(row["t_chat_id"]), int(row["t_session_id"]), int(row["t_thread_id"]),
                 str(row["t_name"]), str(row["t_state"]), float(row["t_created_at"]))


async def get(conn: aiosqlite.Connection, chat_id: int, session_id: int) -> Topic | None:
    async with conn.execute(f"SELECT {_TOPIC} FROM topics t WHERE t.chat_id = ? "  # nosec B608: only constant column lists are formatted in; values are bound
                            "AND t.session_id = ?", (chat_id, session_id)) as cur:
        row = await cur.fetchone()
    return _topic(row) if row else None


async def by_thread(conn: aiosqlite.Connection, chat_id: int,
                    thread_id: int) -> tuple[Topic, Session] | None:
    """The topic with this thread id and its session (index topics_by_thread)."""
    async with conn.execute(
        f"SELECT {_TOPIC}, {_SESSION} FROM topics t JOIN sessions s ON s.id = t.session_id "  # nosec B608: only constant column lists are formatted in; values are bound
        "WHERE t.chat_id = ? AND t.thread_id = ? AND t.state != ?",
        (chat_id, thread_id, CREATING),
    ) as cur:
        row = await cur.fetchone()
    return (_topic(row), _session(row)) if row else None


def _session(row: sqlite3.Row) -> Session:
    values: dict[str, Any] = {c: row[c] for c in _NAMES}
    values["health"] = SessionHealth(values.get("health") or "ok")
    return Session(**values)


async def reserve(conn: aiosqlite.Connection, chat_id: int, session_id: int, name: str,
                  now: float) -> bool:
    """Claim the session's topic before creating it; False when a row already exists."""
    cur = await conn.execute(
        "INSERT OR IGNORE INTO topics (chat_id, session_id, thread_id, name, state, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (chat_id, session_id, -session_id, name, CREATING, now))
    return cur.rowcount == 1


async def created(conn: aiosqlite.Connection, chat_id: int, session_id: int, thread_id: int,
                  name: str) -> None:
    """Telegram created it: the reservation becomes the session's open topic."""
    await conn.execute(
        "UPDATE topics SET thread_id = ?, name = ?, state = ? WHERE chat_id = ? "
        "AND session_id = ?", (thread_id, name, OPEN, chat_id, session_id))


async def release(conn: aiosqlite.Connection, chat_id: int, session_id: int) -> None:
    """Creating failed: drop the reservation so a later message tries again."""
    await conn.execute("DELETE FROM topics WHERE chat_id = ? AND session_id = ? AND state = ?",
                       (chat_id, session_id, CREATING))


async def forget(conn: aiosqlite.Connection, chat_id: int, session_id: int,
                 thread_id: int) -> None:
    """The topic is gone from Telegram (deleted by a person): the next message makes one."""
    await conn.execute("DELETE FROM topics WHERE chat_id = ? AND session_id = ? "
                       "AND thread_id = ?", (chat_id, session_id, thread_id))


async def set_name(conn: aiosqlite.Connection, chat_id: int, session_id: int,
                   name: str) -> None:
    await conn.execute("UPDATE topics SET name = ? WHERE chat_id = ? AND session_id = ?",
                       (name, chat_id, session_id))


async def set_state(conn: aiosqlite.Connection, chat_id: int, session_id: int,
                    state: str) -> None:
    await conn.execute("UPDATE topics SET state = ? WHERE chat_id = ? AND session_id = ?",
                       (state, chat_id, session_id))


async def to_check(conn: aiosqlite.Connection, chat_id: int,
                   now: float) -> list[tuple[Topic, Session]]:
    """Topics that may need a change: every open one, and closed ones of live sessions."""
    async with conn.execute(
        f"SELECT {_TOPIC}, {_SESSION} FROM topics t JOIN sessions s ON s.id = t.session_id "  # nosec B608: only constant column lists are formatted in; values are bound
        "WHERE t.chat_id = ? AND (t.state = ? OR (t.state = ? AND s.expires_at > ?)) "
        "ORDER BY t.session_id", (chat_id, OPEN, CLOSED, now),
    ) as cur:
        rows = await cur.fetchall()
    return [(_topic(r), _session(r)) for r in rows]


async def set_command_thread(conn: aiosqlite.Connection, command_id: str,
                             thread_id: int) -> None:
    """Remember where a command was typed (GENERAL or a topic's thread id)."""
    await conn.execute("UPDATE commands SET thread_id = ? WHERE id = ?", (thread_id, command_id))


async def command_thread(conn: aiosqlite.Connection, command_id: str) -> int | None:
    async with conn.execute("SELECT thread_id FROM commands WHERE id = ?", (command_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else None
