"""A command's live Telegram message: one per command, edited in place as its state moves.

The view is built here from the command row (no Telegram types); the Telegram face renders
it (ccr/telegram/card.py). Every change is written with the state change that caused it, so
a crash never leaves the message showing a state the command has left.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from ccr.core import activity as steps_view
from ccr.core.errors import CLAUDE_CODES
from ccr.core.models import Command
from ccr.store import activity as activity_rows
from ccr.store import commands as rows
from ccr.store import outbox
from ccr.store import topics as topic_rows

TEXT_CHARS = 300
REPLY_CHARS = 3500


def view(command: Command, *, now: float, screen: str | None = None,
         activity: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the live message shows, as plain data (rendered by the Telegram face)."""
    reply = command.reply or ""
    return {
        "activity": activity or {},
        "command_id": command.id,
        "handle": command.handle,
        "text": command.text[:TEXT_CHARS],
        "text_len": len(command.text),
        "alias": command.alias or "",
        "state": command.state.value,
        "created_at": command.created_at,
        "typed_at": command.typed_at,
        "received_at": command.received_at,
        "finished_at": command.finished_at,
        "progress_at": command.progress_at,
        "reply": reply[:REPLY_CHARS],
        "reply_len": len(reply),
        "error_code": command.error_code or "",
        "by_claude": command.error_code in CLAUDE_CODES,
        "error_text": command.error_text or "",
        "trace_id": command.trace_id or "",
        "screen": screen or "",
        "at": now,
    }


async def activity(conn: aiosqlite.Connection, command_id: str) -> dict[str, Any]:
    """Claude's steps for the command: the one running now, the last few, the summary."""
    return steps_view.view(await activity_rows.steps(conn, command_id),
                           await activity_rows.summary(conn, command_id))


async def show(conn: aiosqlite.Connection, command: Command, *, now: float,
               screen: str | None = None) -> int | None:
    """Queue the command's current state for its live message; the message's outbox row,
    None when it has none (it did not come from Telegram)."""
    if command.chat_id is None:
        return None
    first = command.card_outbox_id is None
    reply_to = await rows.reply_to(conn, command.id) if first else None
    thread = await topic_rows.command_thread(conn, command.id) if first else None
    card = await outbox.live_message(
        conn, card_id=command.card_outbox_id, chat_id=command.chat_id,
        payload=view(command, now=now, screen=screen,
                     activity=await activity(conn, command.id)), now=now,
        session_id=command.session_id, command_id=command.id, reply_to=reply_to,
        thread_id=thread)
    if first:
        await rows.set_card(conn, command.id, card)
    return card
