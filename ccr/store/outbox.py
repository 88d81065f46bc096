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
SQL_DUE = ("SELECT o.id, o.chat_id, o.kind, o.text, o.reply_to, o.session_id, o.attempts, "
           "o.trace_parent, o.thread_id, o.edit_of, o.command_id, "
           "(SELECT m.message_id FROM outbox m WHERE m.id = o.edit_of) AS edit_message_id "
           "FROM outbox o WHERE o.state = 'pending' ORDER BY o.id LIMIT ?")
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
    edit_of: int | None = None
    """An edit of the message this outbox row sent (a command's live message)."""
    edit_message_id: int | None = None
    """That message's Telegram id; None when it never arrived (send a new one instead)."""
    command_id: str | None = None
    raw: str = ""
    """The stored payload text: a send is recorded only if it did not change meanwhile."""


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
                                r["trace_parent"], r["thread_id"], r["edit_of"],
                                r["edit_message_id"], r["command_id"], r["text"]))
    return items


async def mark_sent(db: Database, item: OutboxItem, message_id: int, now: float) -> int | None:
    """Record a delivery; the id of the dead letter it resolves, if it was one.

    A live message whose payload changed while it was being sent stays pending: it goes
    out again with the newer state instead of that state being lost.
    """
    async with db.transaction() as conn:
        async with conn.execute("SELECT text FROM outbox WHERE id = ?", (item.id,)) as cur:
            row = await cur.fetchone()
        changed = item.kind == "command" and row is not None and row[0] != item.raw
        await conn.execute(
            "UPDATE outbox SET state = CASE WHEN ? AND edit_of IS NOT NULL THEN state "
            "ELSE 'sent' END, message_id = ?, sent_at = ?, attempts = attempts + 1 "
            "WHERE id = ?", (changed, message_id, now, item.id),
        )
        if changed and item.edit_of is None:  # the first message left with an older state
            assert row is not None
            await conn.execute(
                "INSERT INTO outbox (chat_id, text, kind, session_id, command_id, edit_of, "
                "next_attempt_at, created_at) VALUES (?, ?, 'command', ?, ?, ?, ?, ?)",
                (item.chat_id, row[0], item.session_id, item.command_id, item.id, now, now))
        if item.edit_of is not None and message_id != item.edit_message_id:
            # The edit went out as a new message: later edits change that one.
            await conn.execute("UPDATE outbox SET message_id = ? WHERE id = ?",
                               (message_id, item.edit_of))
        if item.session_id is not None:
            await conn.execute(
                "INSERT OR REPLACE INTO messages (chat_id, message_id, session_id) "
                "VALUES (?, ?, ?)",
                (item.chat_id, message_id, item.session_id),
            )
        return await deadletters.delivered(conn, item.id, now)


async def live_message(conn: aiosqlite.Connection, *, card_id: int | None, chat_id: int,
                       payload: dict[str, Any], now: float, session_id: int | None,
                       command_id: str, reply_to: int | None = None,
                       thread_id: int | None = None) -> int:
    """Show a command's new state on its live message; returns the outbox row used.

    Not sent yet: its pending row gets the new payload (one message, the latest state).
    Sent: an edit row is queued, or the pending one updated (edits coalesce, never pile up).
    """
    text = json.dumps(payload, ensure_ascii=False)
    if card_id is None:
        return await enqueue(conn, chat_id=chat_id, kind="command", payload=payload, now=now,
                             session_id=session_id, command_id=command_id, reply_to=reply_to,
                             thread_id=thread_id)
    cur = await conn.execute(
        "UPDATE outbox SET text = ? WHERE kind = 'command' AND state = 'pending' "
        "AND (id = ? OR edit_of = ?)", (text, card_id, card_id))
    if cur.rowcount:
        return card_id
    async with conn.execute(
        "INSERT INTO outbox (chat_id, text, kind, session_id, command_id, edit_of, "
        "next_attempt_at, created_at, trace_parent) VALUES (?, ?, 'command', ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        (chat_id, text, session_id, command_id, card_id, now, now, current_traceparent()),
    ) as cur2:
        row = await cur2.fetchone()
    assert row is not None
    return int(row[0])


async def notified_since(conn: aiosqlite.Connection, chat_id: int, session_id: int,
                         after_id: int) -> bool:
    """Did the chat get a new message about the session (a notification, or another
    command's live message) after outbox row `after_id`?"""
    async with conn.execute(
        "SELECT 1 FROM outbox WHERE session_id = ? AND chat_id = ? AND id > ? "
        "AND edit_of IS NULL AND kind IN ('notification', 'command') LIMIT 1",
        (session_id, chat_id, after_id)) as cur:
        return await cur.fetchone() is not None


async def payload_of(db: Database, chat_id: int, message_id: int) -> dict[str, Any] | None:
    """What ccr sent as one Telegram message (its outbox payload), if it still has it."""
    row = await db.fetchone(
        "SELECT text FROM outbox WHERE chat_id = ? AND message_id = ? AND edit_of IS NULL "
        "ORDER BY id DESC LIMIT 1", (chat_id, message_id))
    return json.loads(row["text"]) if row is not None else None


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


async def hold(conn: aiosqlite.Connection, ids: list[int], until: float) -> None:
    """Keep pending rows back until `until` (inside the caller's transaction): time to
    enrich them. Nothing else of the row changes, so a crash still sends it after that."""
    for row_id in ids:
        await conn.execute("UPDATE outbox SET next_attempt_at = ? WHERE id = ? "
                           "AND state = 'pending' AND attempts = 0", (until, row_id))


async def update_payload_and_release(db: Database, ids: list[int], extra: dict[str, Any],
                                     now: float) -> int:
    """Merge `extra` into held rows' payloads and make them due now; rows already on their
    way (sent, or tried) are left as they are. Returns how many rows changed."""
    changed = 0
    async with db.transaction() as conn:
        for row_id in ids:
            async with conn.execute("SELECT text FROM outbox WHERE id = ? AND state = 'pending' "
                                    "AND attempts = 0", (row_id,)) as cur:
                row = await cur.fetchone()
            if row is None:
                continue
            payload = {**json.loads(row[0]), **extra}
            await conn.execute("UPDATE outbox SET text = ?, next_attempt_at = ? WHERE id = ?",
                               (json.dumps(payload, ensure_ascii=False), now, row_id))
            changed += 1
    return changed


async def pending_payloads(db: Database, *, session_id: int, kind: str,
                           ) -> list[tuple[int, dict[str, Any]]]:
    """(chat, payload) of a session's rows of `kind` not yet marked sent: one may be on the
    phone already, its send returned but not yet recorded."""
    rows = await db.fetchall(
        "SELECT chat_id, text FROM outbox WHERE state = 'pending' AND session_id = ? "
        "AND kind = ? ORDER BY id", (session_id, kind))
    return [(int(r["chat_id"]), json.loads(r["text"])) for r in rows]


async def sent_since(db: Database, *, session_id: int, kind: str, since: float,
                     until: float) -> list[tuple[int, int, dict[str, Any]]]:
    """(chat, message id, payload) of a session's sent rows of `kind` that were released
    between `since` and `until` (a range of the state index, not a scan of the outbox)."""
    rows = await db.fetchall(
        "SELECT chat_id, message_id, text FROM outbox WHERE state = 'sent' "
        "AND next_attempt_at BETWEEN ? AND ? AND session_id = ? AND kind = ? "
        "AND message_id IS NOT NULL ORDER BY id", (since, until, session_id, kind))
    return [(int(r["chat_id"]), int(r["message_id"]), json.loads(r["text"])) for r in rows]
