"""Drafts: a text sent without a session, kept until the person says where it goes."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True)
class Draft:
    id: int
    chat_id: int
    text: str
    created_at: float
    used_at: float | None


async def insert(conn: aiosqlite.Connection, *, chat_id: int, text: str, now: float) -> Draft:
    async with conn.execute(
        "INSERT INTO drafts (chat_id, session_id, text, created_at) VALUES (?, 0, ?, ?) "
        "RETURNING id", (chat_id, text, now)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return Draft(int(row[0]), chat_id, text, now, None)


async def take(conn: aiosqlite.Connection, draft_id: int, chat_id: int, now: float,
               fresh_after: float) -> Draft | None:
    """Use a draft once: None when it is unknown, another chat's, used or too old."""
    async with conn.execute(
        "UPDATE drafts SET used_at = ? WHERE id = ? AND chat_id = ? AND used_at IS NULL "
        "AND created_at >= ? RETURNING id, chat_id, text, created_at, used_at",
        (now, draft_id, chat_id, fresh_after)) as cur:
        row = await cur.fetchone()
    return Draft(int(row[0]), int(row[1]), row[2], row[3], row[4]) if row else None


async def purge(conn: aiosqlite.Connection, before: float) -> int:
    cur = await conn.execute("DELETE FROM drafts WHERE created_at < ?", (before,))
    return cur.rowcount
