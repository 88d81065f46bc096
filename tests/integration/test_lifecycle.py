"""A command's lifecycle on a real SQLite store: hook events, time and Cancel move it on, and
its live message (an outbox row, then coalesced edits) always carries the latest state."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ccr.core.command_settings import CommandSettings
from ccr.core.errors import CcrError
from ccr.core.events import EventBus
from ccr.core.models import CommandState, EventKind, HookEvent
from ccr.services import cards
from ccr.services.lifecycle import CommandLifecycle
from ccr.services.sessions import SessionService
from ccr.store import commands as rows
from ccr.store import outbox
from ccr.store import sessions as session_rows
from ccr.store.db import Database

NOW = 1_764_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class NoExecutor:
    """Stands in for the executor where these tests never reach tmux (said so)."""

    def __init__(self) -> None:
        self.pressed: list[list[str]] = []
        self.screen = "❯ 1. Yes\n  2. No"

    async def press(self, session: Any, keys: list[str]) -> None:
        self.pressed.append(keys)

    async def capture(self, session: Any, lines: int = 40) -> str:
        return self.screen


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "ccr.db")
    await database.open()
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO sessions (id, server_id, number, token, pane_key, pane_id, "
            "created_at, updated_at, expires_at) VALUES (1, 'laptop', 1, 'tok1', 'p1', '%1', "
            "0, 0, 9e9)")
    yield database
    await database.close()


def life(db: Database, clock: Clock, executor: NoExecutor | None = None,
         **settings: float) -> CommandLifecycle:
    bus = EventBus()
    sessions = SessionService(db, bus, clock=clock, ttl_seconds=86400, recipients=lambda: [])
    return CommandLifecycle(db, bus, sessions, executor or NoExecutor(),  # type: ignore[arg-type]
                            CommandSettings(**settings), clock=clock)


async def typed(db: Database, cid: str, text: str, at: float, *,
                received: bool = False) -> None:
    async with db.transaction() as conn:
        command = await rows.insert(conn, command_id=cid, session_id=1, text=text,
                                    source="telegram", chat_id=42, reply_to=None, now=at)
        await cards.show(conn, command, now=at)
        await rows.set_state(conn, cid, CommandState.DISPATCHING, now=at)
        await rows.set_state(conn, cid, CommandState.EXECUTING, now=at + 0.1)
        if received:
            await rows.mark_received(conn, 1, text, at + 0.2)


def event(kind: EventKind, *, prompt: str | None = None, reply: str | None = None) -> HookEvent:
    return HookEvent(event_id="e", server_id="laptop", kind=kind, hook_event_name=kind.value,
                     claude_session_id="s", cwd="/w", pane_id="%1", tmux_socket=None,
                     tmux_session=None, message=None, notification_type=None,
                     last_prompt=prompt, last_reply=reply, sent_at=NOW)


async def hook(db: Database, lc: CommandLifecycle, ev: HookEvent) -> Any:
    async with db.transaction() as conn:
        found = await session_rows.by_id(conn, 1)
        assert found is not None
        return await lc.on_hook(conn, ev, found, NOW + 5)


async def command(db: Database, cid: str) -> Any:
    async with db.reading() as conn:
        return await rows.get(conn, cid)


async def live_payloads(db: Database, cid: str) -> list[dict[str, Any]]:
    got = await db.fetchall("SELECT text FROM outbox WHERE command_id = ? ORDER BY id", (cid,))
    return [json.loads(r["text"]) for r in got]


async def test_prompt_confirms_and_stop_completes_with_the_reply(db: Database) -> None:
    clock = Clock()
    lc = life(db, clock)
    await typed(db, "c1", "run  the tests", NOW)
    out = await hook(db, lc, event(EventKind.PROMPT, prompt="run the tests"))
    assert [c.id for c in out.changed] == ["c1"]
    assert (await command(db, "c1")).received_at is not None
    out = await hook(db, lc, event(EventKind.STOP, prompt="run the tests", reply="All pass."))
    done = await command(db, "c1")
    assert done.state is CommandState.COMPLETED and done.reply == "All pass."
    assert out.quiet_chats == {42}, "a young command's answer is shown on its message only"
    # Not sent yet: ONE pending row holding the latest state, not a pile of edits.
    (card,) = await live_payloads(db, "c1")
    assert card["state"] == "completed" and card["reply"] == "All pass."
    async with db.reading() as conn:
        steps = [s for s, _, _ in await rows.transitions(conn, "c1")]
    assert steps == ["pending", "dispatching", "executing", "received", "completed"]


async def test_a_stop_of_an_earlier_turn_leaves_an_unconfirmed_command_running(
        db: Database) -> None:
    lc = life(db, Clock())
    await typed(db, "c1", "second thing", NOW)
    await hook(db, lc, event(EventKind.STOP, prompt="first thing", reply="first answer"))
    assert (await command(db, "c1")).state is CommandState.EXECUTING


async def test_a_stop_answers_its_prompt_and_closes_earlier_ones_without_their_reply(
        db: Database) -> None:
    lc = life(db, Clock())
    await typed(db, "c1", "/permission", NOW, received=True)
    await typed(db, "c2", "are you there", NOW + 1, received=True)
    await hook(db, lc, event(EventKind.STOP, prompt="are you there", reply="yes"))
    first, second = await command(db, "c1"), await command(db, "c2")
    assert second.state is CommandState.COMPLETED and second.reply == "yes"
    assert first.state is CommandState.COMPLETED and first.reply == ""
    assert "later prompt" in (first.error_text or "")


async def test_cancel_withdraws_only_what_was_not_typed(db: Database) -> None:
    lc = life(db, Clock())
    async with db.transaction() as conn:
        await rows.insert(conn, command_id="c1", session_id=1, text="queued", source="api",
                          chat_id=42, reply_to=None, now=NOW)
    cancelled = await lc.cancel("c1", chat_id=42)
    assert cancelled.state is CommandState.CANCELLED
    async with db.transaction() as conn:  # the typing loses the race: nothing moves
        moved = await rows.set_state(conn, "c1", CommandState.DISPATCHING, now=NOW,
                                     expect=(CommandState.PENDING,))
    assert moved is None
    await typed(db, "c2", "typed already", NOW)
    with pytest.raises(CcrError) as err:
        await lc.cancel("c2", chat_id=42)
    assert err.value.code == "command_not_cancellable"
    with pytest.raises(CcrError) as err:
        await lc.cancel("c2", chat_id=7)
    assert err.value.code == "button_invalid"


async def test_interrupt_presses_ctrl_c_once_and_marks_it_cancelled(db: Database) -> None:
    executor = NoExecutor()
    lc = life(db, Clock(), executor)
    await typed(db, "c1", "/sleep 60", NOW)
    done = await lc.interrupt("c1", chat_id=42)
    assert executor.pressed == [["C-c"]] and done.state is CommandState.CANCELLED
    with pytest.raises(CcrError):
        await lc.interrupt("c1", chat_id=42)
    assert executor.pressed == [["C-c"]]


async def test_watcher_reads_the_pane_then_shows_progress_then_times_out(
        db: Database) -> None:
    clock = Clock()
    lc = life(db, clock, confirm_after_s=5, progress_after_s=30, timeout_s=120)
    await typed(db, "c1", "hello", NOW)
    clock.now = NOW + 6
    await lc.tick()
    assert (await live_payloads(db, "c1"))[-1]["screen"] == "❯ 1. Yes\n  2. No"
    clock.now = NOW + 31
    await lc.tick()
    assert (await command(db, "c1")).progress_at == NOW + 31
    clock.now = NOW + 121
    await lc.tick()
    ended = await command(db, "c1")
    assert ended.state is CommandState.TIMEOUT and ended.error_code == "command_timeout"
    assert (await live_payloads(db, "c1"))[-1]["state"] == "timeout"


async def test_edits_coalesce_and_a_change_during_a_send_is_sent_again(db: Database) -> None:
    await typed(db, "c1", "hello", NOW)
    (item,) = await outbox.due(db, NOW + 1)
    async with db.transaction() as conn:  # the state moves while that message is in flight
        await rows.set_state(conn, "c1", CommandState.COMPLETED, now=NOW + 2, reply="hi")
        current = await rows.get(conn, "c1")
        assert current is not None
        await cards.show(conn, current, now=NOW + 2)
    await outbox.mark_sent(db, item, 500, NOW + 3)
    (edit,) = await outbox.due(db, NOW + 4)
    assert edit.edit_of == item.id and edit.edit_message_id == 500
    assert edit.payload["state"] == "completed"


async def test_claudes_confirmation_settles_an_uncertain_command(db: Database) -> None:
    lc = life(db, Clock())
    async with db.transaction() as conn:
        await rows.insert(conn, command_id="c1", session_id=1, text="deploy once",
                          source="telegram", chat_id=42, reply_to=None, now=NOW)
        await rows.set_state(conn, "c1", CommandState.DISPATCHING, now=NOW)
        await rows.set_state(conn, "c1", CommandState.UNCERTAIN, now=NOW + 1,
                             error_code="delivery_uncertain", error_text="lost contact")
    await hook(db, lc, event(EventKind.PROMPT, prompt="deploy once"))
    settled = await command(db, "c1")
    assert settled.state is CommandState.EXECUTING and settled.error_code is None
    await hook(db, lc, event(EventKind.STOP, prompt="deploy once", reply="deployed"))
    assert (await command(db, "c1")).state is CommandState.COMPLETED


async def test_a_stop_before_the_typing_is_done_completes_and_the_typing_leaves_it(
        db: Database) -> None:
    lc = life(db, Clock())
    async with db.transaction() as conn:
        await rows.insert(conn, command_id="c1", session_id=1, text="quick one",
                          source="telegram", chat_id=42, reply_to=None, now=NOW)
        await rows.set_state(conn, "c1", CommandState.DISPATCHING, now=NOW)
    await hook(db, lc, event(EventKind.PROMPT, prompt="quick one"))
    await hook(db, lc, event(EventKind.STOP, prompt="quick one", reply="done already"))
    assert (await command(db, "c1")).state is CommandState.COMPLETED
    async with db.transaction() as conn:  # the executor's Enter check ends afterwards
        late = await rows.set_state(conn, "c1", CommandState.EXECUTING, now=NOW + 1,
                                    expect=(CommandState.PENDING, CommandState.DISPATCHING))
    assert late is None and (await command(db, "c1")).reply == "done already"


async def test_the_same_text_twice_each_gets_its_own_answer(db: Database) -> None:
    lc = life(db, Clock())
    await typed(db, "c1", "continue", NOW, received=True)
    await typed(db, "c2", "continue", NOW + 1)  # queued by Claude, not received yet
    await hook(db, lc, event(EventKind.STOP, prompt="continue", reply="first answer"))
    first, second = await command(db, "c1"), await command(db, "c2")
    assert first.state is CommandState.COMPLETED and first.reply == "first answer"
    assert second.state is CommandState.EXECUTING
    await hook(db, lc, event(EventKind.PROMPT, prompt="continue"))
    await hook(db, lc, event(EventKind.STOP, prompt="continue", reply="second answer"))
    assert (await command(db, "c2")).reply == "second answer"


async def test_an_old_uncertain_command_is_not_revived_by_todays_same_text(
        db: Database) -> None:
    lc = life(db, Clock(), timeout_s=600)
    async with db.transaction() as conn:
        await rows.insert(conn, command_id="c0", session_id=1, text="yes", source="telegram",
                          chat_id=42, reply_to=None, now=NOW - 86400)
        await rows.set_state(conn, "c0", CommandState.UNCERTAIN, now=NOW - 86400)
    await typed(db, "c1", "yes", NOW)
    await hook(db, lc, event(EventKind.PROMPT, prompt="yes"))
    assert (await command(db, "c1")).received_at is not None
    assert (await command(db, "c0")).state is CommandState.UNCERTAIN
