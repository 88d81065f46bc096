"""The audit log on a real database with a fake clock: appended once per key, redacted,
filtered, and deleted after [audit] keep_days."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccr.core import redact
from ccr.core.errors import CcrError
from ccr.core.events import AuditRecorded, EventBus
from ccr.services import audit
from ccr.services.audit import CONSOLE, Actor, AuditService
from ccr.store.db import Database

ANN = Actor("telegram", "telegram:5001", "Ann Lee")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "ccr.db")
    await database.open()
    yield database
    await database.close()


async def test_a_key_is_recorded_once_and_entries_come_newest_first(db: Database) -> None:
    clock = Clock()
    log = AuditService(db, keep_days=90, clock=clock)
    assert await log.record(ANN, "cmd", "/cmd laptop:1 hi", outcome="done", key="telegram:7")
    clock.now += 1
    assert not await log.record(ANN, "cmd", "/cmd laptop:1 hi", outcome="done",
                                key="telegram:7")
    assert await log.record(CONSOLE, "stop", "stop x", outcome="done")
    entries = await log.recent()
    assert [(e.actor, e.action) for e in entries] == [("console", "stop"),
                                                      ("telegram:5001", "cmd")]
    assert audit.who(entries[1]) == "telegram:5001 (Ann Lee)"
    assert [e.action for e in await log.recent(who="ann")] == ["cmd"]
    assert [e.action for e in await log.recent(who="5001")] == ["cmd"]
    assert [e.action for e in await log.recent(who="console")] == ["stop"]
    assert [e.action for e in await log.recent(since_s=0.5)] == ["stop"]


async def test_texts_are_redacted_before_they_are_stored(db: Database) -> None:
    redact.configure(["the-hubs-own-api-token-value"])
    log = AuditService(db, keep_days=90, clock=Clock())
    try:
        await log.record(ANN, "cmd", "use the-hubs-own-api-token-value and "
                                     "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                         outcome="failed: Authorization: Bearer abcdefghijklmnop")
    finally:
        redact.configure([])
    raw = await db.fetchall("SELECT what, outcome FROM audit")
    stored = " ".join(str(v) for row in raw for v in tuple(row))
    assert "the-hubs-own-api-token-value" not in stored and "ghp_abcdef" not in stored
    assert "abcdefghijklmnop" not in stored and "[redacted]" in stored


async def test_acting_records_what_the_services_noted_and_failures(db: Database) -> None:
    bus = EventBus()
    log = AuditService(db, keep_days=90, clock=Clock(), bus=bus)
    async with bus.subscribe() as queue:
        async with log.acting(ANN, "cmd", "/cmd laptop:1 run the tests", key="telegram:1"):
            audit.note(server="laptop", session="laptop:1", trace_id="ab" * 16,
                       outcome="accepted as c0123456789", what="run the tests")
            audit.note(outcome="a later, vaguer word")  # the first word wins
        with pytest.raises(CcrError):
            async with log.acting(CONSOLE, "stop", "stop laptop:1"):
                raise CcrError("unknown_session", handle="laptop:1")
        events = [queue.get_nowait(), queue.get_nowait()]
    assert [type(e) for e in events] == [AuditRecorded, AuditRecorded]
    stop, cmd = await log.recent()
    assert (cmd.server, cmd.session, cmd.outcome) == ("laptop", "laptop:1",
                                                      "accepted as c0123456789")
    assert cmd.trace_id == "ab" * 16 and cmd.what == "/cmd laptop:1 run the tests"
    assert stop.outcome == "failed: unknown_session" and not stop.refused
    audit.note(outcome="outside any action")  # no action running: nothing happens
    assert len(await log.recent()) == 2


async def test_refusals_say_why(db: Database) -> None:
    log = AuditService(db, keep_days=90, clock=Clock())
    err = CcrError("not_allowed", who="You", what="type into a session", role="observer",
                   needed="operator")
    await log.refused(ANN, "cmd", "/cmd laptop:1 hi", err, key="telegram:9")
    [entry] = await log.recent()
    assert entry.refused and entry.outcome.startswith("refused: You may not type")


async def test_entries_past_keep_days_are_deleted(db: Database) -> None:
    clock = Clock()
    log = AuditService(db, keep_days=2, clock=clock)
    await log.record(ANN, "cmd", "old", outcome="done")
    clock.now += 86400
    await log.record(ANN, "cmd", "newer", outcome="done")
    clock.now += 86400 + 1
    assert await log.purge() == 1
    assert [e.what for e in await log.recent()] == ["newer"]
