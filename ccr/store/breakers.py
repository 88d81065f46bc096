"""Breakers table: each server's circuit breaker, so a restart remembers an open one."""

from __future__ import annotations

import aiosqlite

from ccr.reliability.breaker import BreakerRecord, BreakerState


async def load_all(conn: aiosqlite.Connection) -> list[BreakerRecord]:
    async with conn.execute(
        "SELECT server_id, state, failures, successes, opened_at, next_probe_at, last_error, "
        "updated_at FROM breakers ORDER BY server_id"
    ) as cur:
        rows = await cur.fetchall()
    return [
        BreakerRecord(server_id=r["server_id"], state=BreakerState(r["state"]),
                      failures=r["failures"], successes=r["successes"], opened_at=r["opened_at"],
                      next_probe_at=r["next_probe_at"], last_error=r["last_error"],
                      updated_at=r["updated_at"])
        for r in rows
    ]


async def save(conn: aiosqlite.Connection, record: BreakerRecord) -> None:
    await conn.execute(
        "INSERT INTO breakers (server_id, state, failures, successes, opened_at, next_probe_at, "
        "last_error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (server_id) DO UPDATE SET state = excluded.state, "
        "failures = excluded.failures, successes = excluded.successes, "
        "opened_at = excluded.opened_at, next_probe_at = excluded.next_probe_at, "
        "last_error = excluded.last_error, updated_at = excluded.updated_at",
        (record.server_id, record.state.value, record.failures, record.successes,
         record.opened_at, record.next_probe_at, record.last_error, record.updated_at),
    )
