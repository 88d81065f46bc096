"""Command history: search by server, session, state and words (FTS5), newest first; purge.

Newest first means `created_at DESC, rowid DESC`: the order `commands_by_time` (created_at,
rowid) already holds, so "the last 10" reads ten index entries. Keyset paging continues
strictly below a (created_at, rowid) pair; the cursor names the command by its id, and its
rowid is looked up in the same statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from ccr.core.models import FINAL_STATES, Command, CommandState
from ccr.store.commands import _SELECT, from_row, get, transitions


@dataclass(frozen=True)
class Criteria:
    """What to look for; every part is optional (all empty: every command)."""

    server: str | None = None
    number: int | None = None
    """With `server`: one session (`laptop:1`)."""
    states: tuple[CommandState, ...] = ()
    words: tuple[str, ...] = ()
    """Each must occur (as a word prefix) in the command's text or Claude's reply."""


def match_expression(words: Sequence[str]) -> str | None:
    """An FTS5 query in which nothing the user typed is syntax: each word a quoted prefix.

    Quotes inside a word are doubled (FTS5's escape); words with no letter or digit can
    match no token, so they are left out. None when no word is left.
    """
    terms = ['"' + w.replace('"', '""') + '"*' for w in words if any(ch.isalnum() for ch in w)]
    return " ".join(terms) or None


def _where(criteria: Criteria) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    if criteria.server is not None:
        clauses.append("s.server_id = ?")
        args.append(criteria.server)
        if criteria.number is not None:
            clauses.append("s.number = ?")
            args.append(criteria.number)
    if criteria.states:
        clauses.append(f"c.state IN ({', '.join('?' for _ in criteria.states)})")
        args += [str(s) for s in criteria.states]
    expression = match_expression(criteria.words)
    if expression is not None:
        clauses.append("c.rowid IN (SELECT rowid FROM commands_fts WHERE commands_fts MATCH ?)")
        args.append(expression)
    return clauses, args


BEFORE = "(c.created_at, c.rowid) < (SELECT created_at, rowid FROM commands WHERE id = ?)"


def _filter(criteria: Criteria, before: bool) -> str:
    clauses, _ = _where(criteria)
    if before:
        clauses.append(BEFORE)
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def search_sql(criteria: Criteria, *, before: bool = False) -> str:
    """The statement `search` runs for these criteria (its plan is checked in the tests)."""
    return (f"{_SELECT}{_filter(criteria, before)} "
            "ORDER BY c.created_at DESC, c.rowid DESC LIMIT ? OFFSET ?")


def count_sql(criteria: Criteria, *, before: bool = False) -> str:
    return ("SELECT count(*) FROM commands c JOIN sessions s ON s.id = c.session_id"  # nosec B608: constant clauses with ? marks are formatted in; values are bound
            + _filter(criteria, before))


async def search(conn: aiosqlite.Connection, criteria: Criteria, *, limit: int,
                 offset: int = 0, before: str | None = None) -> list[Command]:
    """Newest first; `before` (a command id) continues after that command (keyset paging),
    `offset` skips that many (the two may be combined). A `before` id that no longer
    exists (purged) yields nothing."""
    _, args = _where(criteria)
    if before is not None:
        args.append(before)
    sql = search_sql(criteria, before=before is not None)
    async with conn.execute(sql, (*args, limit, offset)) as cur:
        return [from_row(r) for r in await cur.fetchall()]


async def total(conn: aiosqlite.Connection, criteria: Criteria, *,
                before: str | None = None) -> int:
    """How many commands match (older than command `before`, when given)."""
    _, args = _where(criteria)
    if before is not None:
        args.append(before)
    async with conn.execute(count_sql(criteria, before=before is not None), args) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def detail(conn: aiosqlite.Connection, command_id: str
                 ) -> tuple[Command, list[tuple[str, float, str | None]]] | None:
    """One command and each state it went through; None when there is no such command."""
    command = await get(conn, command_id)
    if command is None:
        return None
    return command, await transitions(conn, command_id)


SQL_PURGE_BATCH = (
    "SELECT rowid, id FROM commands WHERE created_at < ? AND state IN ({states}) "
    "ORDER BY created_at LIMIT ?"
)


async def purge(conn: aiosqlite.Connection, older_than: float, *,
                limit: int | None = None) -> int:
    """Delete finished commands created before `older_than`, with their transitions (the
    FTS rows go with them by the delete trigger); at most `limit` of them when given (the
    oldest). How many were deleted.

    Commands still in flight are kept whatever their age: a worker may still move them on.
    """
    finals = sorted(str(s) for s in FINAL_STATES)
    sql = SQL_PURGE_BATCH.format(states=", ".join("?" for _ in finals))
    async with conn.execute(sql, (older_than, *finals, -1 if limit is None else limit)) as cur:
        rows = list(await cur.fetchall())
    if not rows:
        return 0
    await conn.executemany("DELETE FROM command_events WHERE command_id = ?",
                           [(r["id"],) for r in rows])
    await conn.executemany("DELETE FROM commands WHERE rowid = ?", [(r["rowid"],) for r in rows])
    return len(rows)


# The hot statements, as `search` builds them (tests/integration/test_query_plans.py).
SQL_LAST = search_sql(Criteria())
SQL_BY_SERVER = search_sql(Criteria(server="laptop"))
SQL_BY_SESSION = search_sql(Criteria(server="laptop", number=1))
SQL_BY_STATE = search_sql(Criteria(states=(CommandState.FAILED,)))
SQL_KEYWORD = search_sql(Criteria(words=("tests",)))
SQL_KEYWORD_SERVER = search_sql(Criteria(server="laptop", words=("tests",)))
SQL_PAGE_BEFORE = search_sql(Criteria(server="laptop"), before=True)
SQL_COUNT = count_sql(Criteria(server="laptop", words=("tests",)))
