"""Rows of `prompts`: a dialog read from a pane, and who answered it (once)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ccr.core.dialogs import Prompt
from ccr.store.db import Database


@dataclass(frozen=True)
class PromptRow:
    id: int
    session_id: int
    kind: str
    question: str
    options: list[dict[str, Any]]
    screen: str
    created_at: float
    answered_at: float | None
    answer: str | None
    answered_by: str | None


def _row(r: Any) -> PromptRow:
    return PromptRow(int(r["id"]), int(r["session_id"]), r["kind"], r["question"],
                     json.loads(r["options"]), r["screen"], float(r["created_at"]),
                     r["answered_at"], r["answer"], r["answered_by"])


async def insert(conn: aiosqlite.Connection, *, session_id: int, prompt: Prompt, screen: str,
                 now: float) -> int:
    async with conn.execute(
        "INSERT INTO prompts (session_id, kind, question, options, screen, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (session_id, prompt.kind, prompt.question,
         json.dumps(prompt.options_json(), ensure_ascii=False), screen, now),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def get(db: Database, prompt_id: int) -> PromptRow | None:
    r = await db.fetchone("SELECT * FROM prompts WHERE id = ?", (prompt_id,))
    return None if r is None else _row(r)


async def newest_id(db: Database, session_id: int) -> int | None:
    """The session's latest prompt (an older one is answered by its dialog being gone)."""
    r = await db.fetchone("SELECT MAX(id) AS id FROM prompts WHERE session_id = ?",
                          (session_id,))
    return None if r is None or r["id"] is None else int(r["id"])


async def claim(db: Database, prompt_id: int, *, answer: str, by: str, now: float) -> bool:
    """Record the answer unless one is recorded already (a double tap types once)."""
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE prompts SET answered_at = ?, answer = ?, answered_by = ? "
            "WHERE id = ? AND answered_at IS NULL", (now, answer, by, prompt_id))
        return cur.rowcount == 1


async def unclaim(db: Database, prompt_id: int, *, answer: str, by: str) -> None:
    """Take back a claim whose keys could not be pressed, so the question stays open."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE prompts SET answered_at = NULL, answer = NULL, answered_by = NULL "
            "WHERE id = ? AND answer = ? AND answered_by = ?", (prompt_id, answer, by))
