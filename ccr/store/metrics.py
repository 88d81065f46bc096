"""What the metrics read from the store, and their optional snapshots (kept 24 h)."""

from __future__ import annotations

import json
from typing import Any

from ccr.store.db import Database
from ccr.store.deadletters import OPEN_STATES

SQL_LIVE_PER_SERVER = ("SELECT server_id, COUNT(*) AS n FROM sessions INDEXED BY "
                       "sessions_by_expiry WHERE expires_at > ? GROUP BY server_id")
"""Read at every metrics refresh; the expiry index skips the expired rows kept forever."""


async def live_sessions(db: Database, now: float) -> dict[str, int]:
    """Live (unexpired) sessions per server id."""
    rows = await db.fetchall(SQL_LIVE_PER_SERVER, (now,))
    return {str(r["server_id"]): int(r["n"]) for r in rows}


async def dead_letters(db: Database) -> int:
    """Dead letters still in the queue: waiting, being retried, or archived."""
    marks = ", ".join("?" * len(OPEN_STATES))
    row = await db.fetchone(f"SELECT COUNT(*) AS n FROM dead_letters WHERE state IN ({marks})",  # nosec B608: only ? marks are formatted in; values are bound
                            OPEN_STATES)
    return int(row["n"]) if row is not None else 0


async def save_snapshot(db: Database, at: float, data: dict[str, Any], *,
                        keep_s: float) -> None:
    """Store one snapshot and drop those older than `keep_s`."""
    async with db.transaction() as conn:
        await conn.execute("INSERT OR REPLACE INTO metric_snapshots (at, data) VALUES (?, ?)",
                           (at, json.dumps(data, separators=(",", ":"))))
        await conn.execute("DELETE FROM metric_snapshots WHERE at < ?", (at - keep_s,))


async def snapshots(db: Database, since: float, limit: int = 1440) -> list[dict[str, Any]]:
    """Stored snapshots from `since` on, oldest first."""
    rows = await db.fetchall("SELECT at, data FROM metric_snapshots WHERE at >= ? "
                             "ORDER BY at LIMIT ?", (since, limit))
    return [json.loads(r["data"]) for r in rows]
