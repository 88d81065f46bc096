"""Commands still running, with when their Claude was last heard: what the `command_stuck`
and `hooks_silent` alerts look at."""

from __future__ import annotations

from dataclasses import dataclass

from ccr.store.db import Database


@dataclass(frozen=True)
class Running:
    command_id: str
    session_id: int
    server_id: str
    handle: str
    health: str
    since: float
    """The later of: the command typed, Claude's UserPromptSubmit for it, the session's
    latest hook event (every hook event ingested for a session updates it)."""


SQL_RUNNING = (
    "SELECT c.id, c.session_id, s.server_id, s.number, s.health, "
    "MAX(COALESCE(c.typed_at, c.created_at), COALESCE(c.received_at, 0), s.updated_at) AS since "
    "FROM commands c JOIN sessions s ON s.id = c.session_id "
    "WHERE c.state = 'executing' AND s.expires_at > ? ORDER BY since")


async def running(db: Database, now: float) -> list[Running]:
    """Commands typed and not finished, in live sessions, least recently heard first."""
    rows = await db.fetchall(SQL_RUNNING, (now,))
    return [Running(str(r["id"]), int(r["session_id"]), str(r["server_id"]),
                    f"{r['server_id']}:{r['number']}", str(r["health"]), float(r["since"]))
            for r in rows]
