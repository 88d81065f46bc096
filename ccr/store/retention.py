"""What is kept only as long as the command history: sent messages and redelivery guards."""

from __future__ import annotations

import aiosqlite


async def purge(conn: aiosqlite.Connection, before: float) -> int:
    """Delete sent outbox rows (not those a dead letter still points at), hook event ids and
    Telegram update ids recorded before `before`; how many rows went. Telegram redelivers
    an update for at most a day and a hook retries for minutes, so these guards are long
    past use by then."""
    deleted = 0
    for sql in (
        "DELETE FROM outbox WHERE state = 'sent' AND created_at < ? "
        "AND id NOT IN (SELECT outbox_id FROM dead_letters)",
        "DELETE FROM hook_events WHERE received_at < ?",
        "DELETE FROM telegram_updates WHERE received_at < ?",
    ):
        cur = await conn.execute(sql, (before,))
        deleted += max(0, cur.rowcount)
    return deleted


async def purge_audit(conn: aiosqlite.Connection, before: float) -> int:
    """Delete audit entries recorded before `before` (`[audit] keep_days`); how many."""
    cur = await conn.execute("DELETE FROM audit WHERE at < ?", (before,))
    return max(0, cur.rowcount)
