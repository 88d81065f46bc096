"""How the end of a turn settles commands, on a real SQLite store: matched by Claude's
`prompt_id` when the hook carries it (text matching stays for older clients), and a turn
that ended on an API error (StopFailure) ends its command FAILED with Claude's own words and
a plain explanation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ccr.core.command_settings import CommandSettings
from ccr.core.errors import NotFoundError
from ccr.core.events import EventBus
from ccr.core.models import Command, CommandState, HookEvent
from ccr.services import cards
from ccr.services.lifecycle import CommandLifecycle
from ccr.services.sessions import SessionService, classify
from ccr.store import commands as rows
from ccr.store import sessions as session_rows
from ccr.store.db import Database

NOW = 1_764_000_000.0


class NoExecutor:
    """These tests never reach tmux."""

    async def capture(self, session: Any, lines: int = 40) -> str:
        return ""


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "ccr.db")
    await database.open()
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO sessions (id, server_id, number, token, pane_key, pane_id, "
            "created_at, updated_at, expires_at) VALUES (1, 'kr4', 1, 'tok1', 'p1', '%1', "
            "0, 0, 9e9)")
    yield database
    await database.close()


@pytest.fixture
def lc(db: Database) -> CommandLifecycle:
    bus = EventBus()
    sessions = SessionService(db, bus, clock=lambda: NOW, ttl_seconds=86400,
                              recipients=lambda: [])
    return CommandLifecycle(db, bus, sessions, NoExecutor(),  # type: ignore[arg-type]
                            CommandSettings(), clock=lambda: NOW)


def event(name: str, **fields: Any) -> HookEvent:
    kind = classify(name, fields.get("notification_type"), fields.get("message"))
    base: dict[str, Any] = dict(
        event_id="e", server_id="kr4", kind=kind, hook_event_name=name,
        claude_session_id="s", cwd="/w", pane_id="%1", tmux_socket=None, tmux_session=None,
        message=None, notification_type=None, last_prompt=None, last_reply=None, sent_at=NOW)
    base.update(fields)
    return HookEvent(**base)


async def typed(db: Database, cid: str, text: str, at: float) -> None:
    async with db.transaction() as conn:
        command = await rows.insert(conn, command_id=cid, session_id=1, text=text,
                                    source="telegram", chat_id=42, reply_to=None, now=at)
        await cards.show(conn, command, now=at)
        await rows.set_state(conn, cid, CommandState.DISPATCHING, now=at)
        await rows.set_state(conn, cid, CommandState.EXECUTING, now=at + 0.1)


async def hook(db: Database, lc: CommandLifecycle, ev: HookEvent, at: float = NOW + 5) -> Any:
    async with db.transaction() as conn:
        found = await session_rows.by_id(conn, 1)
        assert found is not None
        return await lc.on_hook(conn, ev, found, at)


async def command(db: Database, cid: str) -> Command:
    async with db.reading() as conn:
        found = await rows.get(conn, cid)
    assert found is not None
    return found


async def card(db: Database, cid: str) -> dict[str, Any]:
    row = await db.fetchone("SELECT text FROM outbox WHERE command_id = ? ORDER BY id DESC",
                            (cid,))
    assert row is not None
    return dict(json.loads(row["text"]))


# --- prompt_id ---------------------------------------------------------------------------


async def test_the_stop_with_a_commands_prompt_id_answers_exactly_that_command(
        db: Database, lc: CommandLifecycle) -> None:
    await typed(db, "c1", "first", NOW)
    await typed(db, "c2", "second", NOW + 1)
    await hook(db, lc, event("UserPromptSubmit", last_prompt="first", prompt_id="p-1"))
    await hook(db, lc, event("UserPromptSubmit", last_prompt="second", prompt_id="p-2"))
    assert (await command(db, "c1")).prompt_id == "p-1"
    # The hook's idea of the prompt may be off (a transcript read late); the id is not.
    await hook(db, lc, event("Stop", prompt_id="p-1", last_prompt="second",
                             last_reply="First done."))
    first, second = await command(db, "c1"), await command(db, "c2")
    assert first.state is CommandState.COMPLETED and first.reply == "First done."
    assert second.state is CommandState.EXECUTING, "the second turn is still running"
    await hook(db, lc, event("Stop", prompt_id="p-2", last_reply="Second done."))
    second = await command(db, "c2")
    assert second.state is CommandState.COMPLETED and second.reply == "Second done."


async def test_same_text_twice_is_told_apart_by_id(db: Database, lc: CommandLifecycle) -> None:
    await typed(db, "c1", "yes, continue", NOW)
    await typed(db, "c2", "yes, continue", NOW + 1)
    await hook(db, lc, event("UserPromptSubmit", last_prompt="yes, continue", prompt_id="a"))
    await hook(db, lc, event("UserPromptSubmit", last_prompt="yes, continue", prompt_id="b"))
    await hook(db, lc, event("Stop", prompt_id="a", last_prompt="yes, continue",
                             last_reply="One."))
    assert (await command(db, "c1")).reply == "One."
    assert (await command(db, "c2")).state is CommandState.EXECUTING


async def test_a_stop_of_a_turn_typed_at_the_keyboard_does_not_answer_a_phone_command(
        db: Database, lc: CommandLifecycle) -> None:
    await typed(db, "c1", "run the tests", NOW)
    await hook(db, lc, event("UserPromptSubmit", last_prompt="run the tests", prompt_id="p-1"))
    # Claude's turn p-1 ended without a Stop (Esc); the person typed the same words again.
    await hook(db, lc, event("Stop", prompt_id="p-9", last_prompt="run the tests",
                             last_reply="Answer to the keyboard."))
    done = await command(db, "c1")
    assert done.state is CommandState.COMPLETED and done.reply == ""
    assert done.error_text and "later prompt" in done.error_text


async def test_without_prompt_ids_text_matching_still_decides(
        db: Database, lc: CommandLifecycle) -> None:
    await typed(db, "c1", "old client", NOW)
    await hook(db, lc, event("UserPromptSubmit", last_prompt="old client"))
    await hook(db, lc, event("Stop", last_prompt="old client", last_reply="Fine."))
    done = await command(db, "c1")
    assert done.state is CommandState.COMPLETED and done.reply == "Fine."
    assert done.prompt_id is None


# --- StopFailure -----------------------------------------------------------------------------


async def test_a_failed_turn_fails_its_command_with_claudes_words_and_a_retry(
        db: Database, lc: CommandLifecycle) -> None:
    from ccr.telegram import card as card_face

    await typed(db, "c1", "run the tests", NOW)
    await hook(db, lc, event("UserPromptSubmit", last_prompt="run the tests", prompt_id="p-1"))
    out = await hook(db, lc, event("StopFailure", prompt_id="p-1", error="authentication_failed",
                                   last_reply="Invalid API key · Fix external API key"))
    failed = await command(db, "c1")
    assert failed.state is CommandState.FAILED and failed.error_code == "claude_logged_out"
    assert failed.reply == "Invalid API key · Fix external API key"
    assert out.quiet_chats == {42}, "its live message tells it; no second message"
    shown = await card(db, "c1")
    text = card_face.text(shown)
    assert "Claude stopped on an error" in text
    assert "Invalid API key · Fix external API key" in text
    assert "Claude on kr4 is logged out: run `claude /login` on kr4." in text
    assert "1. On that machine, run `claude /login`" in text
    labels = [label for label, _ in card_face.buttons(shown)]
    assert labels == ["🔁 Retry", "❓ Help", "🖼 Screen"]


@pytest.mark.parametrize(("kind", "code", "words"), [
    ("rate_limit", "claude_rate_limited", "Wait for the limit to reset"),
    ("billing_error", "claude_billing", "billing and credits"),
    ("server_error", "claude_api_error", "Anthropic's API failed"),
    ("invalid_request", "claude_bad_request", "refused Claude's request"),
    ("max_output_tokens", "claude_output_limit", "output-token limit"),
    ("model_not_found", "claude_model_not_found", "/model"),
    ("unknown", "claude_failed", "stopped on an error before answering (unknown)"),
    ("overloaded_something_new", "claude_failed", "(overloaded something new)"),
    (None, "claude_failed", "(unknown)"),
])
async def test_each_error_kind_is_explained(db: Database, lc: CommandLifecycle,
                                            kind: str | None, code: str, words: str) -> None:
    await typed(db, "c1", "go on", NOW)
    await hook(db, lc, event("UserPromptSubmit", last_prompt="go on"))
    await hook(db, lc, event("StopFailure", error=kind, last_reply="API Error"))
    failed = await command(db, "c1")
    assert failed.state is CommandState.FAILED and failed.error_code == code
    assert failed.error_text and words in failed.error_text


async def test_a_failure_of_a_keyboard_turn_leaves_phone_commands_alone(
        db: Database, lc: CommandLifecycle) -> None:
    await typed(db, "c1", "later", NOW)  # typed, not yet received by Claude
    out = await hook(db, lc, event("StopFailure", error="rate_limit", prompt_id="kbd",
                                   last_prompt="something typed at the keyboard"))
    assert out.changed == [] and out.quiet_chats == set()
    assert (await command(db, "c1")).state is CommandState.EXECUTING


async def test_a_failed_keyboard_turn_is_told_to_the_chat_in_plain_words(db: Database) -> None:
    from ccr.telegram import render

    bus = EventBus()
    sessions = SessionService(db, bus, clock=lambda: NOW, ttl_seconds=86400,
                              recipients=lambda: [42])
    sessions.turns = CommandLifecycle(db, bus, sessions, NoExecutor(),  # type: ignore[arg-type]
                                      CommandSettings(), clock=lambda: NOW)
    result = await sessions.ingest(event(
        "StopFailure", event_id="evt-failure-1", error="billing_error",
        tmux_session="work", last_prompt="refactor the cart",
        last_reply="Credit balance is too low"))
    assert result.notified == 1 and result.session is not None
    row = await db.fetchone("SELECT kind, text FROM outbox WHERE chat_id = 42")
    assert row is not None and row["kind"] == "notification"
    text = render.item_text("notification", json.loads(row["text"]))
    assert f"❌ <b>{result.session.handle}</b>" in text and "Claude stopped on an error" in text
    assert "Credit balance is too low" in text and "refactor the cart" in text
    assert "Claude on kr4 was refused for billing" in text
    assert "1. Check the account's billing and credits" in text


# --- SessionEnd ----------------------------------------------------------------------------


def service(db: Database) -> SessionService:
    bus = EventBus()
    sessions = SessionService(db, bus, clock=lambda: NOW, ttl_seconds=86400,
                              recipients=lambda: [42])
    sessions.turns = CommandLifecycle(db, bus, sessions, NoExecutor(),  # type: ignore[arg-type]
                                      CommandSettings(), clock=lambda: NOW)
    return sessions


def lifecycle(sessions: SessionService) -> CommandLifecycle:
    assert isinstance(sessions.turns, CommandLifecycle)
    return sessions.turns


async def test_session_end_takes_the_session_off_at_once_and_its_pane_brings_it_back(
        db: Database) -> None:
    sessions = service(db)
    first = await sessions.ingest(event("SessionStart", event_id="evt-start-1", source="startup",
                                        pane_id="%7"))
    assert first.session is not None and first.notified == 0, "a start is quiet"
    handle = first.session.handle
    assert handle in [s.handle for s in await sessions.live()]
    ended = await sessions.ingest(event("SessionEnd", event_id="evt-end-1", pane_id="%7",
                                        reason="prompt_input_exit"))
    assert ended.notified == 0 and ended.session is not None
    assert ended.session.ended_at == NOW
    assert handle not in [s.handle for s in await sessions.live()]
    with pytest.raises(NotFoundError, match="no live session"):
        await sessions.resolve(handle)
    # Claude Code starts again in that pane: the same session (handle, token) is back.
    back = await sessions.ingest(event("SessionStart", event_id="evt-start-2", source="resume",
                                       pane_id="%7"))
    assert back.session is not None and back.session.handle == handle
    assert back.session.token == first.session.token and back.session.ended_at is None
    assert handle in [s.handle for s in await sessions.live()]


async def test_a_dead_claudes_late_hooks_are_told_without_bringing_its_session_back(
        db: Database) -> None:
    """Claude was killed; hooks it sent before its goodbye arrive after it (a slow server):
    its answer is still told, its question is not, and the session stays ended."""
    sessions = service(db)
    await sessions.ingest(event("SessionStart", event_id="evt-s", source="startup",
                                pane_id="%5", claude_session_id="dead", sent_at=NOW - 30))
    await sessions.ingest(event("SessionEnd", event_id="evt-e", pane_id="%5",
                                claude_session_id="dead", reason="other", sent_at=NOW - 5))
    waiting = await sessions.ingest(event(
        "Notification", event_id="evt-w", pane_id="%5", claude_session_id="dead",
        notification_type="idle_prompt", message="Claude is waiting for your input",
        sent_at=NOW - 10))
    assert waiting.notified == 0, "nobody is there to answer a dead Claude's question"
    answer = await sessions.ingest(event("Stop", event_id="evt-stop", pane_id="%5",
                                         claude_session_id="dead", last_reply="done: 3 files",
                                         sent_at=NOW - 8))
    assert answer.notified == 1, "what it answered before it ended is still told"
    assert answer.session is not None and answer.session.ended_at is not None
    dead = answer.session.handle
    assert dead not in [s.handle for s in await sessions.live()]
    # A Claude started in that pane afterwards (even resuming the same conversation) is back.
    back = await sessions.ingest(event("SessionStart", event_id="evt-s2", source="resume",
                                       pane_id="%5", claude_session_id="dead", sent_at=NOW))
    assert back.session is not None and back.session.ended_at is None
    assert back.session.handle == dead and dead in [s.handle for s in await sessions.live()]


async def test_a_clear_ends_the_conversation_not_the_session(db: Database) -> None:
    sessions = service(db)
    await sessions.ingest(event("Stop", event_id="evt-stop-1", pane_id="%8", last_reply="hi"))
    cleared = await sessions.ingest(event("SessionEnd", event_id="evt-end-2", pane_id="%8",
                                          reason="clear"))
    assert cleared.session is not None and cleared.session.ended_at is None
    assert cleared.session.handle in [s.handle for s in await sessions.live()]


async def test_an_end_from_an_unknown_pane_registers_nothing(db: Database) -> None:
    sessions = service(db)
    before = await sessions.live()
    gone = await sessions.ingest(event("SessionEnd", event_id="evt-end-3", pane_id="%99",
                                       reason="other"))
    assert gone.session is None and await sessions.live() == before


async def test_session_end_fails_the_running_command_and_withdraws_the_queued_one(
        db: Database) -> None:
    from ccr.telegram import card as card_face

    sessions = service(db)
    await typed(db, "c1", "long job", NOW)
    await hook(db, lifecycle(sessions), event("UserPromptSubmit", last_prompt="long job"))
    async with db.transaction() as conn:
        await rows.insert(conn, command_id="c2", session_id=1, text="queued", source="telegram",
                          chat_id=42, reply_to=None, now=NOW + 2)
    # The fixture's session 1 (pane %1) gets the key its hook events compute.
    async with db.transaction() as conn:
        await conn.execute("UPDATE sessions SET pane_key = 'pane::%1' WHERE id = 1")
    await sessions.ingest(event("SessionEnd", event_id="evt-end-4", reason="logout"))
    failed, withdrawn = await command(db, "c1"), await command(db, "c2")
    assert failed.state is CommandState.FAILED and failed.error_code == "claude_exited"
    assert withdrawn.state is CommandState.CANCELLED
    text = card_face.text(await card(db, "c1"))
    assert "Claude Code in kr4:1 ended (logged out) before answering this command." in text
    assert "1. Nothing more is typed into that pane" in text


async def test_the_idle_reminder_after_a_failed_turn_adds_no_second_message(
        db: Database) -> None:
    sessions = service(db)
    told = await sessions.ingest(event("StopFailure", event_id="evt-f-1", pane_id="%5",
                                       error="server_error", last_reply="API Error: 500"))
    assert told.notified == 1
    # Claude Code's idle Notification a minute later: the failure was said already.
    idle = await sessions.ingest(event("Notification", event_id="evt-idle-1", pane_id="%5",
                                       notification_type="idle_prompt",
                                       message="Claude is waiting for your input"))
    assert idle.notified == 0
    assert idle.session is not None and idle.session.last_event == "stop_failure"
