"""History search, paging, detail, purge and redaction on a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccr.core.config import parse_settings
from ccr.core.errors import CcrError
from ccr.core.models import CommandState
from ccr.services.history import HistoryQuery, HistoryService
from ccr.store import commands
from ccr.store.db import Database

DAY = 86400.0
NOW = 1_764_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "ccr.db")
    await database.open()
    async with database.transaction() as conn:
        for sid, (server, number) in enumerate(
                [("laptop", 1), ("laptop", 2), ("kr4", 1)], start=1):
            await conn.execute(
                "INSERT INTO sessions (id, server_id, number, token, pane_key, created_at, "
                "updated_at, expires_at) VALUES (?, ?, ?, ?, ?, 0, 0, 9e9)",
                (sid, server, number, f"tok{sid}", f"p{sid}"))
    yield database
    await database.close()


def service(db: Database, clock: Clock, **commands_cfg: float) -> HistoryService:
    settings = parse_settings({
        "hub": {"listen": "127.0.0.1:1"},
        "commands": commands_cfg,
        "servers": [{"id": "laptop", "kind": "local"}, {"id": "kr4", "kind": "local"}],
    })
    return HistoryService(db, clock, settings)


async def add(db: Database, cid: str, session: int, text: str, at: float,
              state: CommandState = CommandState.COMPLETED, reply: str | None = None) -> None:
    async with db.transaction() as conn:
        await commands.insert(conn, command_id=cid, session_id=session, text=text,
                              source="telegram", chat_id=1, reply_to=None, now=at)
        await commands.set_state(conn, cid, CommandState.EXECUTING, now=at + 1)
        if state is not CommandState.EXECUTING:
            await commands.set_state(conn, cid, state, now=at + 5, reply=reply,
                                     error_code="pane_gone" if state == "failed" else None)


@pytest.fixture
async def filled(db: Database) -> Database:
    await add(db, "c1", 1, "run the tests", NOW - 50, reply="All 12 tests pass.")
    await add(db, "c2", 2, 'say "hello" AND bye', NOW - 40, CommandState.FAILED)
    await add(db, "c3", 3, "deploy to staging -v", NOW - 30, reply="Deployed.")
    await add(db, "c4", 1, "Überprüfe die Tests bitte", NOW - 20, CommandState.TIMEOUT)
    await add(db, "c5", 1, "fix the flaky test* now", NOW - 10, CommandState.EXECUTING)
    return db


async def ids(svc: HistoryService, text: str, **kw: int) -> list[str]:
    return [c.id for c in (await svc.search(text, **kw)).commands]


async def test_newest_first_with_server_session_and_state(filled: Database) -> None:
    svc = service(filled, Clock(NOW))
    assert await ids(svc, "") == ["c5", "c4", "c3", "c2", "c1"]
    assert await ids(svc, "laptop") == ["c5", "c4", "c2", "c1"]
    assert await ids(svc, "laptop:1") == ["c5", "c4", "c1"]
    assert await ids(svc, "kr4:1") == ["c3"]
    assert await ids(svc, "state:failed") == ["c2"]
    assert await ids(svc, "is:failed,timeout") == ["c4", "c2"]
    assert await ids(svc, "state:running") == ["c5"]
    assert await ids(svc, "laptop:1 state:done") == ["c4", "c1"]


@pytest.mark.parametrize(("words", "expected"), [
    ("tests", ["c4", "c1"]),  # the reply counts too: c1's "tests pass"; prefix: "Tests"
    ("test", ["c5", "c4", "c1"]),
    ('"hello"', ["c2"]),
    ('say "hello', ["c2"]),
    ("AND", ["c2"]),
    ("OR", []),
    ("NOT tests", []),
    ("-v", ["c3"]),
    ("test*", ["c5", "c4", "c1"]),
    ("*", ["c5", "c4", "c3", "c2", "c1"]),  # no letter: no word to look for
    ("überprüfe", ["c4"]),
    ("uberprufe", ["c4"]),  # unicode61 folds diacritics
    ("NEAR(tests deploy)", []),
    ("text:tests", []),  # a phrase "text tests", not a column filter
    ("deployed staging", ["c3"]),
])
async def test_keywords_are_plain_words_whatever_they_contain(filled: Database, words: str,
                                                              expected: list[str]) -> None:
    assert await ids(service(filled, Clock(NOW)), words) == expected


async def test_keyword_with_server_and_total(filled: Database) -> None:
    page = await service(filled, Clock(NOW)).search("laptop test", limit=1)
    assert [c.id for c in page.commands] == ["c5"]
    assert page.total == 3 and page.has_older and page.next_before == "c5"


async def test_paging_by_offset_and_by_keyset_meet(db: Database) -> None:
    for i in range(25):
        await add(db, f"k{i:02d}", 1 + i % 2, f"step {i}", NOW - 1000 + i * 10)
    await add(db, "same-a", 1, "tie", NOW - 5)
    await add(db, "same-b", 1, "tie", NOW - 5)  # same created_at: the rowid orders them
    svc = service(db, Clock(NOW))
    everything = await ids(svc, "", limit=100)
    assert len(everything) == 27 and everything[:2] == ["same-b", "same-a"]
    by_offset = [await ids(svc, "", limit=10, offset=o) for o in (0, 10, 20)]
    assert [cid for page in by_offset for cid in page] == everything
    pages, before = [], None
    while True:
        page = await svc.search("", limit=10, before=before)
        pages.append([c.id for c in page.commands])
        assert page.offset == 10 * (len(pages) - 1)
        before = page.next_before
        if before is None:
            break
    assert pages == by_offset
    assert await ids(svc, "", limit=10, before="no-such-id") == []


@pytest.mark.parametrize("text", ["state:done2", "is:", "state:finished", "laptop:1 kr4",
                                  "session:nope", "x" * 101, " ".join("w" * 13)])
def test_bad_filters_say_why(text: str) -> None:
    if text == "is:":  # an empty value is a word, not a filter
        assert HistoryQuery.parse(text).words == ("is:",)
        return
    with pytest.raises(CcrError) as caught:
        HistoryQuery.parse(text, ["laptop", "kr4"])
    assert caught.value.code == "history_query_invalid"
    assert "The history filter is not valid" in caught.value.message


def test_parse_reads_the_whole_language_and_round_trips() -> None:
    q = HistoryQuery.parse("laptop:1 is:failed,timeout state:running red tests", ["laptop"])
    assert (q.server, q.number, q.words) == ("laptop", 1, ("red", "tests"))
    assert q.states == (CommandState.FAILED, CommandState.TIMEOUT, CommandState.PENDING,
                        CommandState.DISPATCHING, CommandState.EXECUTING)
    assert HistoryQuery.parse(q.text) == q
    assert HistoryQuery.parse("laptop notes:1").words == ("laptop", "notes:1")  # not servers
    assert HistoryQuery.parse("server:desk").server == "desk"


async def test_detail_lists_transitions_and_unknown_is_command_not_found(
        filled: Database) -> None:
    svc = service(filled, Clock(NOW))
    detail = await svc.detail("c2")
    assert [s for s, _, _ in detail.transitions] == ["pending", "executing", "failed"]
    assert detail.transitions[-1][2] == "pane_gone"
    with pytest.raises(CcrError) as caught:
        await svc.detail("nope")
    assert caught.value.code == "command_not_found"
    assert "kept 30 days" in caught.value.message


async def test_secrets_are_masked_in_every_history_view(db: Database) -> None:
    secret = "ghp_" + "A1b2C3d4" * 5
    await add(db, "s1", 1, f"export GITHUB_TOKEN={secret} and push", NOW - 5,
              reply=f"Pushed with password=hunter2hunter2 and {secret}.")
    svc = service(db, Clock(NOW))
    shown = (await svc.search("push")).commands[0]
    detail = (await svc.detail("s1")).command
    for c in (shown, detail):
        assert secret not in c.text and secret not in (c.reply or "")
        assert "hunter2hunter2" not in (c.reply or "")
        assert "push" in c.text


async def test_purge_deletes_old_finished_commands_with_their_events(filled: Database) -> None:
    clock = Clock(NOW)
    await add(filled, "old1", 1, "ancient tests", NOW - 40 * DAY)
    await add(filled, "old2", 2, "ancient run", NOW - 31 * DAY, CommandState.EXECUTING)
    svc = service(filled, clock)
    assert await svc.purge() == 1  # old2 is still in flight: kept
    assert "old1" not in await ids(svc, "", limit=50)
    assert await ids(svc, "ancient") == ["old2"]  # FTS row of old1 went with it
    rows = await filled.fetchall("SELECT count(*) FROM command_events WHERE command_id = 'old1'")
    assert rows[0][0] == 0
    clock.now = NOW + 31 * DAY  # a month later the rest is old too, but c5 still runs
    assert await svc.purge() == 4
    assert await ids(svc, "", limit=50) == ["c5", "old2"]


async def test_purge_job_runs_and_logs(filled: Database) -> None:
    import asyncio

    await add(filled, "old", 1, "ancient", NOW - 40 * DAY)
    said: list[tuple[str, str]] = []
    svc = service(filled, Clock(NOW), purge_interval_s=10)
    svc.log = lambda level, text: said.append((level, text))
    task = asyncio.create_task(svc.run())
    for _ in range(200):
        if said:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert said == [("info", "history purge: deleted 1 command(s) older than 30 days")]


async def test_purge_also_drops_old_sent_messages_and_redelivery_guards(db: Database) -> None:
    from ccr.store import deadletters, outbox

    async with db.transaction() as conn:
        old = await outbox.enqueue(conn, chat_id=1, kind="text", payload={"text": "old"},
                                   now=NOW - 40 * DAY)
        dead = await outbox.enqueue(conn, chat_id=1, kind="text", payload={"text": "dead"},
                                    now=NOW - 40 * DAY)
        new = await outbox.enqueue(conn, chat_id=1, kind="text", payload={"text": "new"},
                                   now=NOW - DAY)
        await conn.execute("UPDATE outbox SET state = 'sent' WHERE id IN (?, ?, ?)",
                           (old, dead, new))
        await deadletters.bury(conn, outbox_id=dead, chat_id=1, kind="text", reason="x",
                               error_type="rejected", attempts=3, now=NOW - 40 * DAY,
                               schedule=deadletters.Schedule())
        await commands.seen_update(conn, 7, NOW - 40 * DAY)
        await commands.seen_update(conn, 8, NOW - DAY)
    await service(db, Clock(NOW)).purge()
    kept = [r[0] for r in await db.fetchall("SELECT id FROM outbox ORDER BY id")]
    assert kept == [dead, new]  # a dead letter's message stays with its entry
    updates = [r[0] for r in await db.fetchall("SELECT update_id FROM telegram_updates")]
    assert updates == [8]
