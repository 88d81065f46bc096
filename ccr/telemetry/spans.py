"""The span store: finished spans kept in SQLite, bounded in age and rows, read as timelines.

Rows are written in batches by `ccr.telemetry.tracing` through the hub's one `Database`
(never a second writer). Attributes are scrubbed on the way in: no message text, secrets
or tokens ever reach the table (or an OTLP collector); string values are redacted too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccr.core.errors import InputError, NotFoundError
from ccr.core.redact import redact
from ccr.store.db import Database

RETENTION_S = 24 * 3600.0
MAX_SPANS = 200_000
SHORT = 12
"""Hex characters of a trace id quoted to people (`trace 4bf92f3577b3`)."""

COLUMNS = ("ccr.component", "ccr.server")
"""Attributes stored as columns of their own."""
_HEX = re.compile(r"^[0-9a-f]{4,32}$")
_FORBIDDEN = re.compile(r"text|message|prompt|reply|secret|token|password|passwd|key|auth"
                        r"|cookie|signature|body|payload|argv|stdin", re.I)
_MAX_VALUE = 120


def scrub(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Only short scalar attributes whose names cannot carry text, secrets or tokens, and
    string values redacted (a URL or an error detail can still hold a credential)."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if _FORBIDDEN.search(key):
            continue
        if isinstance(value, str) and len(value) <= _MAX_VALUE and "\n" not in value:
            out[key] = redact(value)
        elif isinstance(value, bool | int | float):
            out[key] = value
    return out


def short(trace_id: str) -> str:
    return trace_id[:SHORT]


@dataclass(frozen=True)
class SpanRow:
    """One finished span as stored."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    component: str
    server: str | None
    started_at: float
    ended_at: float
    status: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def params(self) -> tuple[object, ...]:
        return (self.trace_id, self.span_id, self.parent_id, self.name, self.component,
                self.server, self.started_at, self.ended_at, self.status,
                json.dumps({k: v for k, v in scrub(self.attributes).items()
                            if k not in COLUMNS}, separators=(",", ":")))


async def write(db: Database, rows: Sequence[SpanRow]) -> None:
    """Insert a batch in one transaction."""
    if not rows:
        return
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO spans (trace_id, span_id, parent_id, name, component, server, "
            "started_at, ended_at, status, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [r.params() for r in rows],
        )


async def purge(db: Database, now: float, *, retention_s: float = RETENTION_S,
                max_rows: int = MAX_SPANS) -> int:
    """Drop spans older than the retention, then the oldest beyond the row cap."""
    async with db.transaction() as conn:
        cur = await conn.execute("DELETE FROM spans WHERE started_at < ?", (now - retention_s,))
        removed = max(0, cur.rowcount)
        cur = await conn.execute(
            "DELETE FROM spans WHERE id <= (SELECT id FROM spans ORDER BY id DESC "
            "LIMIT 1 OFFSET ?)", (max_rows,))
        removed += max(0, cur.rowcount)
    return removed


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM spans")
    return int(row[0]) if row else 0


def normalise(ref: str) -> str:
    """A trace id or its prefix (at least 4 hex characters), lower-case; else InputError."""
    ref = ref.strip().lower()
    if not _HEX.match(ref):
        raise InputError("trace_id_invalid", ref=ref[:40])
    return ref


async def resolve(db: Database, ref: str) -> str:
    """The full trace id a (short) reference names."""
    prefix = normalise(ref)
    rows = await db.fetchall(
        "SELECT DISTINCT trace_id FROM spans WHERE trace_id >= ? AND trace_id < ? LIMIT 2",
        (prefix, prefix + "g"))
    if not rows:
        raise NotFoundError("trace_not_found", ref=prefix)
    if len(rows) > 1:
        raise InputError("trace_ambiguous", ref=prefix)
    return str(rows[0]["trace_id"])


async def timeline(db: Database, ref: str) -> dict[str, Any]:
    """A trace as a timeline: spans by start, each with depth, offset and duration in ms.

    The console's trace view and `ccr trace` render this; it holds no message text.
    """
    trace_id = await resolve(db, ref)
    rows = await db.fetchall(
        "SELECT span_id, parent_id, name, component, server, started_at, ended_at, status, "
        "attributes FROM spans WHERE trace_id = ? ORDER BY started_at, id", (trace_id,))
    start = min(float(r["started_at"]) for r in rows)
    end = max(float(r["ended_at"]) for r in rows)
    parents: dict[str, str | None] = {r["span_id"]: r["parent_id"] for r in rows}

    def depth(span_id: str) -> int:
        d, seen = 0, {span_id}
        parent = parents.get(span_id)
        while parent is not None and parent in parents and parent not in seen:
            seen.add(parent)
            d += 1
            parent = parents.get(parent)
        return d

    spans = [{
        "span_id": r["span_id"], "parent_id": r["parent_id"], "name": r["name"],
        "component": r["component"], "server": r["server"], "status": r["status"],
        "start": float(r["started_at"]), "end": float(r["ended_at"]),
        "offset_ms": round((float(r["started_at"]) - start) * 1000, 3),
        "duration_ms": round((float(r["ended_at"]) - float(r["started_at"])) * 1000, 3),
        "depth": depth(r["span_id"]),
        "attributes": json.loads(r["attributes"] or "{}"),
    } for r in rows]
    return {"trace_id": trace_id, "short": short(trace_id), "start": start,
            "duration_ms": round((end - start) * 1000, 3), "spans": _tree_order(spans),
            "errors": sum(s["status"] == "error" for s in spans)}


def _tree_order(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Depth-first by start time, so children follow their parent (orphans are roots)."""
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s["parent_id"] if s["parent_id"] in ids else None
        children.setdefault(parent, []).append(s)
    out: list[dict[str, Any]] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        s = stack.pop()
        out.append(s)
        stack.extend(reversed(children.get(s["span_id"], [])))
    return out


async def recent(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The latest traces, newest first: root name, start, duration, span and error counts."""
    rows = await db.fetchall(
        "SELECT trace_id, MIN(started_at) AS start, MAX(ended_at) AS end, COUNT(*) AS n, "
        "SUM(status = 'error') AS errors, GROUP_CONCAT(DISTINCT component) AS components, "
        "MAX(server) AS server FROM spans WHERE trace_id IN (SELECT trace_id FROM spans "
        "GROUP BY trace_id ORDER BY MAX(id) DESC LIMIT ?) GROUP BY trace_id "
        "ORDER BY start DESC", (max(1, min(limit, 500)),))
    roots = {}
    if rows:
        marks = ", ".join("?" for _ in rows)
        for r in await db.fetchall(
            f"SELECT trace_id, name FROM spans WHERE trace_id IN ({marks}) "  # nosec B608: only ? marks are formatted in; values are bound
            "ORDER BY started_at DESC", tuple(r["trace_id"] for r in rows)):
            roots[r["trace_id"]] = r["name"]  # the earliest span wins (last written)
    return [{
        "trace_id": r["trace_id"], "short": short(r["trace_id"]),
        "name": roots.get(r["trace_id"], "?"), "start": float(r["start"]),
        "duration_ms": round((float(r["end"]) - float(r["start"])) * 1000, 3),
        "spans": int(r["n"]), "errors": int(r["errors"] or 0),
        "components": sorted((r["components"] or "").split(",")), "server": r["server"],
    } for r in rows]
