"""The prompt flow on a real SQLite store: a waiting notification is held (durable), then
released with the dialog read from the pane, or plain; an answer presses a key once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest

from ccr.core.errors import CcrError, RemoteError
from ccr.core.events import EventBus
from ccr.core.models import EventKind, HookEvent, Session
from ccr.services import prompting
from ccr.services.prompting import HOLD_S, PromptService
from ccr.services.sessions import SessionService
from ccr.store import outbox
from ccr.store.db import Database
from tests.unit.test_prompts import STAND_IN

CHATS = [11, 22]


class FakePane:
    """A pane whose screen the test sets; records the keys pressed."""

    def __init__(self) -> None:
        self.screen = STAND_IN
        self.fail: CcrError | None = None
        self.fail_press: CcrError | None = None
        self.pressed: list[list[str]] = []

    async def capture(self, session: Session, lines: int = 40) -> str:
        if self.fail is not None:
            raise self.fail
        return self.screen

    async def press(self, session: Session, keys: list[str]) -> None:
        if self.fail_press is not None:
            raise self.fail_press
        self.pressed.append(keys)


class World:
    def __init__(self, db: Database) -> None:
        self.now = 1_000_000.0
        self.db = db
        self.pane = FakePane()
        self.tasks: list[asyncio.Task[Any]] = []
        self.sessions = SessionService(db, EventBus(), clock=lambda: self.now,
                                       ttl_seconds=86400, recipients=lambda: CHATS)
        self.prompts = PromptService(db, self.pane, clock=lambda: self.now,
                                     spawn=self.spawn, wake=lambda: None,
                                     log=lambda level, text: None, session=self.sessions.get)
        self.sessions.hold_for = self.prompts.hold_for
        self.sessions.on_waiting = self.prompts.on_waiting

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def settle(self) -> list[Any]:
        """The results of the pane reads started since the last call."""
        tasks, self.tasks = self.tasks, []
        return list(await asyncio.gather(*tasks))

    async def ingest(self, name: str = "Notification", ntype: str | None = "permission_prompt",
                     message: str = "Claude needs your permission to use Bash",
                     pane: str | None = "%3") -> Session:
        kind = EventKind.STOP if name == "Stop" else EventKind.WAITING
        event = HookEvent(event_id=str(uuid.uuid4()), server_id="laptop", kind=kind,
                          hook_event_name=name, claude_session_id="c1", cwd="/w/shop",
                          pane_id=pane, tmux_socket="/tmp/s", tmux_session="work",
                          message=message, notification_type=ntype, last_prompt=None,
                          last_reply=None, sent_at=self.now)
        result = await self.sessions.ingest(event)
        assert result.session is not None
        return result.session

    async def due(self, at: float) -> list[outbox.OutboxItem]:
        return await outbox.due(self.db, at)


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setattr(prompting, "LOOKS_S", (0.0,))
    db = Database(tmp_path / "ccr.db")
    await db.open()
    yield World(db)
    await db.close()


async def test_held_until_read_then_released_with_the_dialog(world: World) -> None:
    world.prompts.spawn = lambda coro: coro.close()  # the hub died: the pane is never read
    await world.ingest()
    assert await world.due(world.now) == []
    plain = await world.due(world.now + HOLD_S)  # the hold ends: the plain message goes
    assert [i.chat_id for i in plain] == CHATS and "prompt_id" not in plain[0].payload


async def test_released_at_once_with_question_and_options(world: World) -> None:
    session = await world.ingest()
    [prompt_id] = await world.settle()
    items = await world.due(world.now)
    assert [i.chat_id for i in items] == CHATS
    p = items[0].payload
    assert p["prompt_id"] == prompt_id and p["question"] == "Do you want to proceed?"
    assert p["context"] == ["echo 'stand-in permission check'"] and p["esc"] is True
    assert [o["label"] for o in p["options"]][:2] == ["Yes", "Yes, and don't ask again"]
    assert p["handle"] == session.handle and p["message"].startswith("Claude needs")


@pytest.mark.parametrize("screen_or_error", ["● Done.\n\n> \n", RemoteError("pane_gone",
                                                                            handle="laptop:1")])
async def test_nothing_readable_releases_the_plain_message(world: World,
                                                           screen_or_error: Any) -> None:
    if isinstance(screen_or_error, str):
        world.pane.screen = screen_or_error
    else:
        world.pane.fail = screen_or_error
    await world.ingest()
    assert await world.settle() == [None]
    items = await world.due(world.now)
    assert len(items) == 2 and "prompt_id" not in items[0].payload
    assert await world.db.fetchone("SELECT * FROM prompts") is None


async def test_other_events_are_not_held(world: World) -> None:
    await world.ingest(ntype="idle_prompt", message="Claude is waiting for your input")
    await world.ingest("Stop", ntype=None, message="")
    await world.ingest(pane=None)  # not in tmux: nothing to read
    assert world.tasks == [] and len(await world.due(world.now)) == 6


async def test_an_answer_presses_its_key_once(world: World) -> None:
    await world.ingest()
    [prompt_id] = await world.settle()
    done = await world.prompts.answer(prompt_id, 2, by="t:1")
    assert done.answer == "2. Yes, and don't ask again" and world.pane.pressed == [["2"]]
    with pytest.raises(CcrError) as again:
        await world.prompts.answer(prompt_id, 1, by="t:2")
    assert again.value.code == "prompt_answered" and world.pane.pressed == [["2"]]


async def test_refusals_type_nothing(world: World) -> None:
    await world.ingest()
    [first] = await world.settle()
    for prompt_id, choice, code in [(first + 50, 1, "button_invalid"),
                                    (first, 7, "button_invalid")]:
        with pytest.raises(CcrError) as err:
            await world.prompts.answer(prompt_id, choice, by="t")
        assert err.value.code == code
    world.pane.screen = STAND_IN.replace("Yes, and don't ask again", "Yes, for this project")
    with pytest.raises(CcrError) as gone:
        await world.prompts.answer(first, 1, by="t")
    assert gone.value.code == "prompt_gone"
    world.pane.screen = STAND_IN
    world.pane.fail_press = RemoteError("pane_gone", handle="laptop:1")
    with pytest.raises(CcrError):
        await world.prompts.answer(first, None, by="t")
    world.pane.fail_press = None
    await world.ingest()  # a newer dialog: the older one's buttons no longer work
    [second] = await world.settle()
    with pytest.raises(CcrError) as older:
        await world.prompts.answer(first, 1, by="t")
    assert older.value.code == "prompt_gone" and world.pane.pressed == []
    assert (await world.prompts.answer(second, None, by="t")).answer == "esc"
    assert world.pane.pressed == [["Escape"]]
