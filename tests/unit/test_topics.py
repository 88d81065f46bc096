"""Topics: names, the table, and the service's decisions on a real database (Telegram faked)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from ccr.core.config import parse_settings
from ccr.core.errors import ConfigError
from ccr.core.events import EventBus
from ccr.core.models import EventKind, HookEvent, Session, SessionHealth
from ccr.services.sessions import SessionService
from ccr.services.topics import NAME_LIMIT, TopicApiError, TopicService, topic_name
from ccr.store import topics as rows
from ccr.store.db import Database

CHAT = -100777
EVENT_IDS = itertools.count()
TTL = 24 * 3600.0


def session(project: str | None = "/home/ana/shop", *, number: int = 1,
            tmux: str | None = "work") -> Session:
    return Session(id=number, server_id="laptop", number=number, token="abcd2345",
                   pane_id="%1", tmux_socket=None, tmux_session=tmux, claude_session_id="c",
                   project=project, last_event=None, last_prompt=None, last_reply=None,
                   created_at=0.0, updated_at=0.0, expires_at=9e9)


# --- names -----------------------------------------------------------------------------------

def test_name_is_handle_and_project() -> None:
    assert topic_name(session()) == "laptop:1 · shop"
    assert topic_name(session("/srv/api/")) == "laptop:1 · api"


def test_name_without_project_uses_tmux_session_or_handle() -> None:
    assert topic_name(session(None)) == "laptop:1 · work"
    assert topic_name(session(None, tmux=None)) == "laptop:1"


def test_long_or_odd_names_fit_telegram() -> None:
    long = topic_name(session("/x/" + "é" * 300))
    assert len(long) == NAME_LIMIT and long.endswith("…") and long.startswith("laptop:1 · é")
    assert topic_name(session("/x/a\nb\tc")) == "laptop:1 · a b c"


def test_topics_chat_must_be_an_allowed_chat() -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings({"telegram": {"allowed_chats": [42], "topics_chat": CHAT}})
    assert "telegram.topics_chat" in info.value.message
    assert "allowed_chats" in info.value.message
    ok = parse_settings({"telegram": {"allowed_chats": [42, CHAT], "topics_chat": CHAT}})
    assert ok.telegram.topics_chat == CHAT


# --- the service on a real database ---------------------------------------------------------

@dataclass
class FakeTelegram:
    """Forum topics as Telegram keeps them; `fail` makes the next calls of a kind fail."""

    topics: dict[int, dict[str, str]] = field(default_factory=dict)
    fail: dict[str, TopicApiError] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _check(self, what: str) -> None:
        self.calls.append(what)
        if what in self.fail:
            raise self.fail.pop(what)

    async def create(self, chat_id: int, name: str) -> int:
        self._check("create")
        thread = 100 + len(self.topics)
        self.topics[thread] = {"name": name, "state": "open"}
        return thread

    async def rename(self, chat_id: int, thread_id: int, name: str) -> None:
        self._check("rename")
        self.topics[thread_id]["name"] = name

    async def close(self, chat_id: int, thread_id: int) -> None:
        self._check("close")
        self.topics[thread_id]["state"] = "closed"

    async def reopen(self, chat_id: int, thread_id: int) -> None:
        self._check("reopen")
        self.topics[thread_id]["state"] = "open"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    db: Database
    sessions: SessionService
    topics: TopicService
    telegram: FakeTelegram
    clock: Clock
    logs: list[str]

    async def hook(self, cwd: str = "/home/ana/shop", pane: str = "%1") -> Session:
        n = next(EVENT_IDS)
        result = await self.sessions.ingest(HookEvent(
            event_id=f"e{n}", server_id="laptop", kind=EventKind.STOP,
            hook_event_name="Stop", claude_session_id="c1", cwd=cwd, pane_id=pane,
            tmux_socket=None, tmux_session="work", message=None, notification_type=None,
            last_prompt=None, last_reply="done", sent_at=self.clock.now))
        assert result.session is not None
        return result.session


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = Database(tmp_path / "ccr.db")
    await db.open()
    clock = Clock()
    bus = EventBus()
    sessions = SessionService(db, bus, clock=clock, ttl_seconds=TTL, recipients=lambda: [])
    logs: list[str] = []
    topics = TopicService(db, bus, sessions, chat_id=CHAT, clock=clock,
                          log=lambda level, text: logs.append(f"{level}: {text}"))
    telegram = FakeTelegram()
    topics.api = telegram
    yield Rig(db, sessions, topics, telegram, clock, logs)
    await db.close()


async def recorded(rig: Rig, session_id: int) -> rows.Topic | None:
    async with rig.db.reading() as conn:
        return await rows.get(conn, CHAT, session_id)


async def test_a_topic_is_created_once_and_reused(rig: Rig) -> None:
    s = await rig.hook()
    thread = await rig.topics.thread(s.id)
    assert thread is not None and await rig.topics.thread(s.id) == thread
    assert rig.telegram.calls == ["create"]
    assert rig.telegram.topics[thread] == {"name": "laptop:1 · shop", "state": "open"}
    found = await rig.topics.session_for(thread)
    assert found is not None and found[1].id == s.id and found[0].state == rows.OPEN


async def test_failed_creation_leaves_nothing_and_the_next_message_retries(rig: Rig) -> None:
    s = await rig.hook()
    rig.telegram.fail["create"] = TopicApiError("BadRequest: not enough rights")
    assert await rig.topics.thread(s.id) is None
    assert await recorded(rig, s.id) is None
    assert any("not enough rights" in line for line in rig.logs)
    thread = await rig.topics.thread(s.id)
    assert thread is not None and rig.telegram.calls == ["create", "create"]


async def test_a_crash_mid_creation_makes_one_new_topic_and_says_so(rig: Rig) -> None:
    s = await rig.hook()
    async with rig.db.transaction() as conn:  # the hub died after reserving, before recording
        assert await rows.reserve(conn, CHAT, s.id, "laptop:1 · shop", rig.clock.now)
    assert await rig.topics.session_for(-s.id) is None, "a reservation is never used"
    thread = await rig.topics.thread(s.id)
    assert thread is not None and rig.telegram.calls == ["create"]
    topic = await recorded(rig, s.id)
    assert topic is not None and topic.thread_id == thread and topic.state == rows.OPEN
    assert any("may have been created" in line for line in rig.logs)
    async with rig.db.transaction() as conn:
        assert not await rows.reserve(conn, CHAT, s.id, "again", rig.clock.now)


async def test_topic_follows_the_session(rig: Rig) -> None:
    s = await rig.hook()
    thread = await rig.topics.thread(s.id)
    assert thread is not None

    moved = await rig.hook(cwd="/home/ana/blog")  # Claude now works in another project
    await rig.topics.follow(moved)
    assert rig.telegram.topics[thread]["name"] == "laptop:1 · blog"

    lost = await rig.sessions.set_health(moved, SessionHealth.LOST, "its tmux pane is gone")
    await rig.topics.follow(lost)
    assert rig.telegram.topics[thread]["state"] == "closed"
    back = await rig.hook(cwd="/home/ana/blog")  # its hook reports again
    await rig.topics.follow(back)
    assert rig.telegram.topics[thread]["state"] == "open"

    rig.clock.now += TTL + 1  # it expires: the sweep closes its topic
    await rig.topics.sweep()
    assert rig.telegram.topics[thread]["state"] == "closed"
    topic = await recorded(rig, s.id)
    assert topic is not None and topic.state == rows.CLOSED and topic.name == "laptop:1 · blog"
    await rig.topics.sweep()
    assert rig.telegram.calls.count("close") == 2, "nothing more once it is closed"


async def test_a_failed_change_is_tried_again_by_the_sweep(rig: Rig) -> None:
    s = await rig.hook()
    thread = await rig.topics.thread(s.id)
    assert thread is not None
    rig.telegram.fail["rename"] = TopicApiError("TimedOut: no answer")
    await rig.topics.follow(await rig.hook(cwd="/home/ana/blog"))
    assert rig.telegram.topics[thread]["name"] == "laptop:1 · shop"
    await rig.topics.sweep()
    assert rig.telegram.topics[thread]["name"] == "laptop:1 · blog"


async def test_a_topic_deleted_on_telegram_is_forgotten_and_made_again(rig: Rig) -> None:
    s = await rig.hook()
    first = await rig.topics.thread(s.id)
    assert first is not None
    await rig.topics.gone(s.id, first)
    second = await rig.topics.thread(s.id)
    assert second is not None and second != first


async def test_closed_topic_reopens_before_its_session_speaks_again(rig: Rig) -> None:
    s = await rig.hook()
    thread = await rig.topics.thread(s.id)
    assert thread is not None
    await rig.topics.follow(await rig.sessions.set_health(s, SessionHealth.LOST, "gone"))
    assert rig.telegram.topics[thread]["state"] == "closed"
    await rig.sessions.set_health(replace(s, health=SessionHealth.LOST), SessionHealth.OK, "back")
    assert await rig.topics.thread(s.id) == thread
    assert rig.telegram.topics[thread]["state"] == "open"


async def test_store_lists_only_topics_that_may_need_a_change(rig: Rig) -> None:
    live, expired = await rig.hook(), await rig.hook(pane="%2")
    async with rig.db.transaction() as conn:
        for s, thread, state in ((live, 7, rows.CLOSED), (expired, 8, rows.CLOSED)):
            await rows.reserve(conn, CHAT, s.id, "n", 0)
            await rows.created(conn, CHAT, s.id, thread, "n")
            await rows.set_state(conn, CHAT, s.id, state)
        await conn.execute("UPDATE sessions SET expires_at = 0 WHERE id = ?", (expired.id,))
        await rows.set_command_thread(conn, "nope", 7)
    async with rig.db.reading() as conn:
        pairs = await rows.to_check(conn, CHAT, rig.clock.now)
        assert [t.thread_id for t, _ in pairs] == [7]
        assert await rows.command_thread(conn, "nope") is None
        assert (await rows.by_thread(conn, CHAT, 8)) is not None
