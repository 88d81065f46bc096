"""hook_events: every event id the ingest took (for duplicates), and so when each server's
hook was last heard. `ccr servers` test events are kept here too, with no session."""

from __future__ import annotations

import aiosqlite


async def record_test(conn: aiosqlite.Connection, event_id: str, server_id: str,
                      now: float) -> bool:
    """Keep a test event's id; False when it was seen before."""
    cur = await conn.execute(
        "INSERT OR IGNORE INTO hook_events (event_id, server_id, received_at) VALUES (?, ?, ?)",
        (event_id, server_id, now))
    return cur.rowcount > 0


async def last_heard(conn: aiosqlite.Connection) -> dict[str, float]:
    """The newest event time per server, over the events kept (30 days)."""
    async with conn.execute(
            "SELECT server_id, MAX(received_at) AS at FROM hook_events GROUP BY server_id") as cur:
        return {r["server_id"]: float(r["at"]) for r in await cur.fetchall()}
