"""Every hot query of the store uses an index: `EXPLAIN QUERY PLAN` on the migrated schema.

The statements are the store's own constants (the exact SQL the hub runs), planned on a
database holding enough rows that SQLite's choice is the one it makes in production.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccr.store import commands, deadletters, history, outbox, sessions
from ccr.store import metrics as store_metrics
from ccr.store.db import Database

HOT = {
    "session by pane": sessions.SQL_BY_PANE,
    "next handle number": sessions.SQL_NEXT_NUMBER,
    "token taken": sessions.SQL_TOKEN_TAKEN,
    "session by handle": sessions.SQL_BY_HANDLE,
    "session by token": sessions.SQL_BY_TOKEN,
    "session by id": sessions.SQL_BY_ID,
    "live sessions": sessions.SQL_LIVE,
    "session by message": sessions.SQL_BY_MESSAGE,
    "lost session in tmux session": sessions.SQL_LOST_IN_TMUX_SESSION,
    "set health": sessions.SQL_SET_HEALTH,
    "extend": sessions.SQL_EXTEND,
    "ended session by pane": sessions.SQL_ENDED_BY_PANE,
    "end a session": sessions.SQL_END,
    "live sessions per server": store_metrics.SQL_LIVE_PER_SERVER,
    "outbox due": outbox.SQL_DUE,
    "outbox waiting": outbox.SQL_WAITING,
    "outbox next due": outbox.SQL_NEXT_DUE,
    "command by id": commands.SQL_GET,
    "recent commands": commands.SQL_RECENT,
    "commands in a state": commands.SQL_IN_STATE,
    "dead letters due": deadletters.SQL_DUE,
    "history: last 10": history.SQL_LAST,
    "history: by server": history.SQL_BY_SERVER,
    "history: by session": history.SQL_BY_SESSION,
    "history: by state": history.SQL_BY_STATE,
    "history: keyword": history.SQL_KEYWORD,
    "history: keyword + server": history.SQL_KEYWORD_SERVER,
    "history: next page (keyset)": history.SQL_PAGE_BEFORE,
    "history: total": history.SQL_COUNT,
}
EXPECTED = {
    "session by pane": "sessions_by_pane",
    "ended session by pane": "sessions_by_pane",
    "session by handle": "sqlite_autoindex_sessions_2",  # UNIQUE (server_id, number)
    "session by token": "sqlite_autoindex_sessions_1",  # token UNIQUE
    "session by message": "sqlite_autoindex_messages_1",  # PRIMARY KEY (chat_id, message_id)
    "live sessions": "sessions_by_expiry",
    "live sessions per server": "sessions_by_expiry",
    "lost session in tmux session": "sessions_by_tmux_session",
    "outbox due": "outbox_pending",
    "outbox next due": "outbox_by_chat",
    "commands in a state": "commands_by_state",
    "recent commands": "commands_by_time",
    "dead letters due": "dead_letters_by_state",
    "history: last 10": "commands_by_time",
    "history: by server": "commands_by_session",
    "history: by session": "commands_by_session",
    "history: by state": "commands_by_state",
    "history: keyword": "commands_fts VIRTUAL TABLE INDEX",
    "history: keyword + server": "commands_fts VIRTUAL TABLE INDEX",
    "history: next page (keyset)": "commands_by_session (session_id=? AND created_at<?)",
}
"""The index a query must use, where a wrong one would still be 'an index'."""
STEP = re.compile(r"^(SEARCH|SCAN) (\w+)")
"""A step reading a table (or a materialized subquery, which has no index to use)."""


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "ccr.db")
    await database.open()
    async with database.transaction() as conn:  # enough rows for realistic plans
        for i in range(400):
            await conn.execute(
                "INSERT INTO sessions (server_id, number, token, pane_key, created_at, "
                "updated_at, expires_at, tmux_session) VALUES (?, ?, ?, ?, 0, 0, ?, ?)",
                (f"s{i % 20}", i, f"tok{i:05d}", f"pane::%{i}", float(i), f"t{i % 7}"))
            await conn.execute(
                "INSERT INTO outbox (chat_id, text, kind, state, next_attempt_at, created_at) "
                "VALUES (?, '{}', 'notification', ?, 0, 0)",
                (i % 3, "sent" if i % 9 else "pending"))
            await conn.execute(
                "INSERT INTO commands (id, session_id, text, source, state, created_at) "
                "VALUES (?, ?, 'x', 'api', 'delivered', ?)", (f"c{i}", i + 1, float(i)))
            await conn.execute("INSERT INTO messages VALUES (?, ?, ?)", (i % 3, i, i + 1))
        await conn.execute("ANALYZE")
    yield database
    await database.close()


@pytest.mark.parametrize("name", sorted(HOT))
async def test_hot_query_uses_an_index(db: Database, name: str) -> None:
    sql = HOT[name]
    rows = await db.fetchall("EXPLAIN QUERY PLAN " + sql, (1,) * sql.count("?"))
    plan = [str(r["detail"]) for r in rows]
    subqueries = {d.split()[1] for d in plan if d.startswith("MATERIALIZE ")}
    steps = [(m[2], d) for d in plan if (m := STEP.match(d)) and m[2] not in subqueries]
    assert steps, f"{name}: no table read in {plan}"
    for table, step in steps:
        assert "INDEX" in step or "PRIMARY KEY" in step, \
            f"{name}: {table} is read without an index: {step} (plan {plan})"
    if name in EXPECTED:
        assert any(EXPECTED[name] in d for d in plan), f"{name}: {EXPECTED[name]} unused: {plan}"


async def test_statement_cache_holds_every_hot_statement(db: Database) -> None:
    """sqlite3 keeps this many compiled statements per connection, keyed by SQL text."""
    from ccr.store.db import STATEMENT_CACHE

    assert 2 * len(HOT) <= STATEMENT_CACHE
    assert len(set(HOT.values())) == len(HOT)  # constants, one text each
