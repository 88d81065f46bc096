"""Claude's steps per command (command_steps) and their running count (command_activity).

The steps of a command are deleted when it finishes (a trigger in the schema), its summary
row when the command itself is purged; while it runs only the last KEEP steps are kept.
"""

from __future__ import annotations

import json

import aiosqlite

from ccr.core.activity import SUBAGENT, Step, Summary

KEEP = 20
"""Steps kept per running command: the live message shows the last few, not a log."""


async def _summary_row(conn: aiosqlite.Connection, command_id: str) -> Summary | None:
    async with conn.execute("SELECT steps, failed, counts FROM command_activity "
                            "WHERE command_id = ?", (command_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    try:
        counts = {str(k): int(v) for k, v in json.loads(row[2]).items()}
    except (ValueError, AttributeError, TypeError):
        counts = {}
    return Summary(steps=int(row[0]), failed=int(row[1]), counts=counts)


async def _count(conn: aiosqlite.Connection, command_id: str, tool: str, *, step: bool,
                 failed: bool, now: float) -> None:
    summary = await _summary_row(conn, command_id)
    counts = dict(summary.counts) if summary is not None else {}
    if step:
        counts[tool] = counts.get(tool, 0) + 1
    await conn.execute(
        "INSERT INTO command_activity (command_id, steps, failed, counts, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (command_id) DO UPDATE SET steps = excluded.steps, "
        "failed = excluded.failed, counts = excluded.counts, updated_at = excluded.updated_at",
        (command_id, (summary.steps if summary else 0) + int(step),
         (summary.failed if summary else 0) + int(failed), json.dumps(counts), now))


async def _insert(conn: aiosqlite.Connection, command_id: str, *, tool: str, subject: str,
                  tool_use_id: str | None, status: str, error: str | None,
                  now: float) -> None:
    await conn.execute(
        "INSERT INTO command_steps (command_id, seq, tool_use_id, tool, subject, status, "
        "error, started_at, ended_at) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
        "command_steps WHERE command_id = ?), ?, ?, ?, ?, ?, ?, ?)",
        (command_id, command_id, tool_use_id, tool, subject, status, error, now,
         None if status == "running" else now))
    await conn.execute(
        "DELETE FROM command_steps WHERE command_id = ? AND seq <= "
        "(SELECT MAX(seq) FROM command_steps WHERE command_id = ?) - ?",
        (command_id, command_id, KEEP))


async def started(conn: aiosqlite.Connection, command_id: str, *, tool: str, subject: str,
                  tool_use_id: str | None, now: float) -> None:
    """A tool call (or a subagent) began: a running step, counted (a subagent is not)."""
    await _insert(conn, command_id, tool=tool, subject=subject, tool_use_id=tool_use_id,
                  status="running", error=None, now=now)
    if tool != SUBAGENT:
        await _count(conn, command_id, tool, step=True, failed=False, now=now)


async def ended(conn: aiosqlite.Connection, command_id: str, *, tool: str, subject: str,
                tool_use_id: str | None, error: str | None, now: float) -> bool:
    """A tool call (or subagent) ended, failed when `error` is set. Its running step is
    closed; one whose start was never seen is added (and counted). False when nothing
    changed (a subagent's end without its start)."""
    status = "failed" if error is not None else "ok"
    cur = await conn.execute(
        "UPDATE command_steps SET status = ?, error = ?, ended_at = ? WHERE command_id = ? "
        "AND tool_use_id = ? AND status = 'running'",
        (status, error, now, command_id, tool_use_id)) if tool_use_id else None
    if cur is not None and cur.rowcount:
        if error is not None:
            await _count(conn, command_id, tool, step=False, failed=True, now=now)
        return True
    if tool == SUBAGENT:
        return False
    await _insert(conn, command_id, tool=tool, subject=subject, tool_use_id=tool_use_id,
                  status=status, error=error, now=now)
    await _count(conn, command_id, tool, step=True, failed=error is not None, now=now)
    return True


async def steps(conn: aiosqlite.Connection, command_id: str) -> list[Step]:
    """The command's kept steps, oldest first (none once it finished)."""
    async with conn.execute(
        "SELECT seq, tool, subject, status, error, started_at, ended_at FROM command_steps "
        "WHERE command_id = ? ORDER BY seq", (command_id,)) as cur:
        rows = await cur.fetchall()
    return [Step(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], float(r[5]),
                 None if r[6] is None else float(r[6])) for r in rows]


async def summary(conn: aiosqlite.Connection, command_id: str) -> Summary | None:
    return await _summary_row(conn, command_id)
