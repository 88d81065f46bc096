"""A database written by the core loop's release is upgraded in place, its rows intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ccr.core.models import SessionHealth
from ccr.store import sessions as rows
from ccr.store.db import Database
from ccr.store.schema import MIGRATIONS


def core_loop_database(path: Path) -> None:
    """The schema as the core loop shipped it (migration 1 only), with a session in it."""
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute(
        "INSERT INTO sessions (server_id, number, token, pane_key, pane_id, tmux_session, "
        "project, created_at, updated_at, expires_at) VALUES "
        "('kr4', 1, 'abcd2345', 'pane::%3', '%3', 'work', '/srv/shop', 1, 2, 9e12)")
    conn.execute(
        "INSERT INTO outbox (chat_id, text, kind, next_attempt_at, created_at) "
        "VALUES (42, '{}', 'notification', 0, 0)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


async def test_core_loop_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ccr.db"
    core_loop_database(path)
    db = Database(path)
    await db.open()
    try:
        version = await db.fetchone("PRAGMA user_version")
        assert version is not None and version[0] == len(MIGRATIONS)
        async with db.reading() as conn:
            session = await rows.by_handle(conn, "kr4", 1, now=3)
        assert session is not None and session.token == "abcd2345"
        assert session.pane_id == "%3" and session.health is SessionHealth.OK
        outbox = await db.fetchall("SELECT chat_id, state FROM outbox")
        assert [(r["chat_id"], r["state"]) for r in outbox] == [(42, "pending")]
        tables = {r[0] for r in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"breakers", "dead_letters"} <= tables
    finally:
        await db.close()


async def test_reopening_an_upgraded_database_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ccr.db"
    for _ in range(2):
        db = Database(path)
        await db.open()
        version = await db.fetchone("PRAGMA user_version")
        await db.close()
        assert version is not None and version[0] == len(MIGRATIONS)
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()
    assert journal[0] == "wal"


async def test_a_database_with_the_activity_tables_gains_the_audit_log(tmp_path: Path) -> None:
    """Installs already at 12 (Claude's steps) keep it; the audit log comes as 13, after it."""
    path = tmp_path / "ccr.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:12]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 12")
    conn.commit()
    conn.close()
    assert "CREATE TABLE command_steps" in MIGRATIONS[11]
    assert "CREATE TABLE audit" in MIGRATIONS[12]
    db = Database(path)
    await db.open()
    try:
        version = await db.fetchone("PRAGMA user_version")
        assert version is not None and version[0] == len(MIGRATIONS) >= 13
        tables = {r[0] for r in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"command_steps", "command_activity", "audit"} <= tables
    finally:
        await db.close()


async def test_a_failing_migration_leaves_nothing_half_done(tmp_path: Path,
                                                             monkeypatch: Any) -> None:
    """A migration runs whole or not at all: one whose last statement fails leaves neither
    its first statement's table nor its version number (each is sent as one script)."""
    broken = (*MIGRATIONS, "CREATE TABLE half_done (x INTEGER);\n"
                           "INSERT INTO no_such_table VALUES (1);")
    monkeypatch.setattr("ccr.store.db.MIGRATIONS", broken)
    path = tmp_path / "ccr.db"
    db = Database(path)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        await db.open()
    await db.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() \
        is None
    conn.close()
