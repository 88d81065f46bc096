"""Outbox: every message for Telegram is a row first, written with the change that caused it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiosqlite

from ccr.store import deadletters
from ccr.store.db import Database
from ccr.telemetry.tracing import current_traceparent

# Hot statements (the delivery worker runs them on every wake), constant strings so the
# connection's statement cache compiles each once; their plans are checked in
# tests/integration/test_query_plans.py.
SQL_DUE = ("SELECT id, chat_id, kind, text, reply_to, session_id, attempts, trace_parent, "
           "thread_id "
           "FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?")
SQL_WAITING = ("SELECT chat_id, MIN(id) AS first FROM outbox WHERE state = 'pending' "
               "AND next_attempt_at > ? GROUP BY chat_id")
SQL_NEXT_DUE = ("SELECT MIN(o.next_attempt_at) AS t FROM outbox o JOIN (SELECT MIN(id) AS first "
                "FROM outbox WHERE state = 'pending' GROUP BY chat_id) h ON o.id = h.first")

@dataclass(frozen=True)
class OutboxItem:
    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    reply_to: int | None
    session_id: int | None
    attempts: int
    trace_parent: str | None = None
    """W3C traceparent of the span that queued it; its delivery continues that trace."""
    thread_id: int | None = None
    """The forum topic to send it in: None lets the sender choose (a session's message goes
    to its topic in the topics chat), 0 is the chat's General topic on purpose."""


async def enqueue(conn: aiosqlite.Connection, *, chat_id: int, kind: str,
                  payload: dict[str, Any], now: float, reply_to: int | None = None,
                  session_id: int | None = None, command_id: str | None = None,
                  trace_parent: str | None = None, thread_id: int | None = None) -> int:
    """Queue a message; it joins the trace running now unless `trace_parent` names one."""
    trace_parent = trace_parent or current_traceparent()
    async with conn.execute(
        "INSERT INTO outbox (chat_id, text, kind, reply_to, session_id, command_id, "
        "next_attempt_at, created_at, trace_parent, thread_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (chat_id, json.dumps(payload, ensure_ascii=False), kind, reply_to, session_id,
         command_id, now, now, trace_parent, thread_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def due(db: Database, now: float, limit: int = 50) -> list[OutboxItem]:
    """Pending rows whose time has come, oldest first (per-chat order is kept by the worker)."""
    rows = await db.fetchall(
        SQL_DUE, (limit,),
    )
    items = []
    blocked: set[int] = set()
    waiting = await db.fetchall(
        SQL_WAITING, (now,),
    )
    first_waiting = {int(r["chat_id"]): int(r["first"]) for r in waiting}
    for r in rows:
        chat = int(r["chat_id"])
        if chat in blocked or (chat in first_waiting and first_waiting[chat] <= r["id"]):
            blocked.add(chat)
            continue
        items.append(OutboxItem(int(r["id"]), chat, r["kind"], json.loads(r["text"]),
                                r["reply_to"], r["session_id"], int(r["attempts"]),
                                r["trace_parent"], r["thread_id"]))
    return items


async def mark_sent(db: Database, item: OutboxItem, message_id: int, now: float) -> int | None:
    """Record a delivery; the id of the dead letter it resolves, if it was one."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE outbox SET state = 'sent', message_id = ?, sent_at = ?, "
            "attempts = attempts + 1 WHERE id = ?", (message_id, now, item.id),
        )
        if item.session_id is not None:
            await conn.execute(
                "INSERT OR REPLACE INTO messages (chat_id, message_id, session_id) "
                "VALUES (?, ?, ?)",
                (item.chat_id, message_id, item.session_id),
            )
        return await deadletters.delivered(conn, item.id, now)


async def mark_retry(db: Database, item: OutboxItem, error: str, next_at: float) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
            "WHERE id = ?", (error, next_at, item.id),
        )


async def mark_failed(db: Database, item: OutboxItem, error: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ? "
            "WHERE id = ?", (error, item.id),
        )


async def mark_dead(conn: aiosqlite.Connection, item: OutboxItem, error: str) -> None:
    """Take a row out of line for the dead-letter queue (inside the caller's transaction)."""
    await conn.execute(
        "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? "
        "WHERE id = ?", (error, item.id),
    )


async def next_due(db: Database) -> float | None:
    """When the first waiting message of some chat is due (only a chat's first one counts)."""
    row = await db.fetchone(
        SQL_NEXT_DUE)
    return float(row["t"]) if row is not None and row["t"] is not None else None


async def counts(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
    return {r["state"]: int(r["n"]) for r in rows}
