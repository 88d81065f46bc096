"""Claude's steps on a real SQLite store: each tool event lands on the command Claude works
on, a redelivered one counts once, and a finished command keeps only its summary."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ccr.core.command_settings import CommandSettings
from ccr.core.events import EventBus
from ccr.core.models import CommandState, EventKind, HookEvent
from ccr.services import cards
from ccr.services.lifecycle import CommandLifecycle
from ccr.services.sessions import SessionService
from ccr.store import activity as steps
from ccr.store import commands as rows
from ccr.store import history
from ccr.store.db import Database

NOW = 1_764_000_000.0


class NoExecutor:
    """These tests never reach tmux."""


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "ccr.db")
    await database.open()
    yield database
    await database.close()


def hook_event(n: int, name: str, kind: EventKind, **fields: Any) -> HookEvent:
    return HookEvent(event_id=f"event-{n:04d}", server_id="laptop", kind=kind,
                     hook_event_name=name, claude_session_id="s1", cwd="/w", pane_id="%1",
                     tmux_socket="/tmp/sock", tmux_session=None, message=None,
                     notification_type=None, last_prompt=fields.pop("last_prompt", None),
                     last_reply=fields.pop("last_reply", None), sent_at=NOW, **fields)


async def setup(db: Database) -> tuple[SessionService, CommandLifecycle]:
    bus = EventBus()
    sessions = SessionService(db, bus, clock=lambda: NOW, ttl_seconds=86400,
                              recipients=lambda: [])
    lc = CommandLifecycle(db, bus, sessions, NoExecutor(),  # type: ignore[arg-type]
                          CommandSettings(), clock=lambda: NOW)
    lc.activity.rich = False  # no edits scheduled here: the store is what is checked
    sessions.turns = lc
    await sessions.ingest(hook_event(0, "SessionStart", EventKind.SESSION_START))
    return sessions, lc


async def typed(db: Database, cid: str, text: str) -> None:
    async with db.transaction() as conn:
        command = await rows.insert(conn, command_id=cid, session_id=1, text=text,
                                    source="telegram", chat_id=42, reply_to=None, now=NOW)
        await cards.show(conn, command, now=NOW)
        await rows.set_state(conn, cid, CommandState.DISPATCHING, now=NOW)
        await rows.set_state(conn, cid, CommandState.EXECUTING, now=NOW)


async def test_steps_land_on_the_running_command_once_and_only_the_summary_outlives_it(
        db: Database) -> None:
    sessions, _ = await setup(db)
    await typed(db, "c1", "fix the tests")
    await sessions.ingest(hook_event(1, "UserPromptSubmit", EventKind.PROMPT,
                                     last_prompt="fix the tests", prompt_id="p-1"))
    tool = {"prompt_id": "p-1", "tool_name": "Bash"}
    events = [
        hook_event(2, "PreToolUse", EventKind.TOOL_START, tool_input="pytest -q",
                   tool_use_id="t1", **tool),
        hook_event(3, "PostToolUseFailure", EventKind.TOOL_FAILED, tool_input="pytest -q",
                   tool_use_id="t1", tool_error="Exit code 1", **tool),
        hook_event(4, "PreToolUse", EventKind.TOOL_START, tool_input="/w/cart.py",
                   tool_use_id="t2", prompt_id="p-1", tool_name="Edit"),
        hook_event(5, "PostToolUse", EventKind.TOOL_DONE, tool_input="/w/cart.py",
                   tool_use_id="t2", prompt_id="p-1", tool_name="Edit"),
        hook_event(6, "PreToolUse", EventKind.TOOL_START, tool_input="pytest -q",
                   tool_use_id="t3", **tool),
    ]
    for ev in events:
        assert not (await sessions.ingest(ev)).duplicate
    again = await sessions.ingest(events[-1])  # the hook sent it twice
    assert again.duplicate
    async with db.reading() as conn:
        kept = await steps.steps(conn, "c1")
        view = await cards.activity(conn, "c1")
    assert [(s.tool, s.subject, s.status) for s in kept] == [
        ("Bash", "pytest -q", "failed"), ("Edit", "cart.py", "ok"), ("Bash", "pytest -q",
                                                                    "running")]
    assert view["now"] == "Bash: pytest -q"
    assert [r["line"] for r in view["recent"]] == ["✗ Bash: pytest -q (Exit code 1)",
                                                   "Edit: cart.py"]
    assert view["summary"] == "3 steps: 2 Bash, 1 Edit · 1 failed"

    await sessions.ingest(hook_event(7, "PostToolUse", EventKind.TOOL_DONE,
                                     tool_input="pytest -q", tool_use_id="t3", **tool))
    await sessions.ingest(hook_event(8, "Stop", EventKind.STOP, last_prompt="fix the tests",
                                     last_reply="Fixed.", prompt_id="p-1"))
    async with db.reading() as conn:
        done = await rows.get(conn, "c1")
        assert done is not None and done.state is CommandState.COMPLETED
        assert await steps.steps(conn, "c1") == []  # pruned when it finished
        summary = await steps.summary(conn, "c1")
        final = await cards.activity(conn, "c1")
    assert summary is not None and (summary.steps, summary.failed) == (3, 1)
    assert final["summary"] == "3 steps: 2 Bash, 1 Edit · 1 failed" and final["now"] == ""
    card = await db.fetchone("SELECT text FROM outbox WHERE command_id = 'c1' "
                             "ORDER BY id DESC LIMIT 1")
    assert card is not None and "3 steps: 2 Bash, 1 Edit" in card["text"]


async def test_a_tool_event_of_no_running_command_is_kept_nowhere(db: Database) -> None:
    sessions, _ = await setup(db)
    await typed(db, "c1", "hello")  # typed, but Claude never said it received it
    result = await sessions.ingest(hook_event(1, "PreToolUse", EventKind.TOOL_START,
                                              tool_name="Read", tool_input="/w/a.py",
                                              tool_use_id="t1"))
    assert not result.duplicate
    rows_left = await db.fetchall("SELECT * FROM command_steps")
    assert rows_left == []


async def test_a_long_command_keeps_only_its_last_steps_but_counts_them_all(
        db: Database) -> None:
    sessions, _ = await setup(db)
    await typed(db, "c1", "refactor")
    await sessions.ingest(hook_event(1, "UserPromptSubmit", EventKind.PROMPT,
                                     last_prompt="refactor"))
    base = hook_event(0, "PostToolUse", EventKind.TOOL_DONE, tool_name="Read")
    for n in range(2, 2 + steps.KEEP + 15):
        await sessions.ingest(dataclasses.replace(base, event_id=f"event-{n:04d}",
                                                  tool_input=f"/w/f{n}.py",
                                                  tool_use_id=f"t{n}"))
    async with db.reading() as conn:
        kept = await steps.steps(conn, "c1")
        summary = await steps.summary(conn, "c1")
    assert len(kept) == steps.KEEP and kept[-1].subject == f"f{steps.KEEP + 16}.py"
    assert summary is not None and summary.steps == steps.KEEP + 15


async def test_the_summary_goes_with_the_command_when_history_is_purged(db: Database) -> None:
    sessions, _ = await setup(db)
    await typed(db, "c1", "old work")
    await sessions.ingest(hook_event(1, "UserPromptSubmit", EventKind.PROMPT,
                                     last_prompt="old work"))
    await sessions.ingest(hook_event(2, "PreToolUse", EventKind.TOOL_START, tool_name="Read",
                                     tool_input="/w/a.py", tool_use_id="t1"))
    await sessions.ingest(hook_event(3, "Stop", EventKind.STOP, last_prompt="old work",
                                     last_reply="ok"))
    assert await db.fetchone("SELECT 1 FROM command_activity WHERE command_id = 'c1'")
    async with db.transaction() as conn:
        assert await history.purge(conn, NOW + 1) == 1
    assert await db.fetchall("SELECT * FROM command_activity") == []
    assert await db.fetchall("SELECT * FROM command_steps") == []


async def test_a_subagent_shows_while_it_works_and_is_not_counted_as_a_step(
        db: Database) -> None:
    sessions, _ = await setup(db)
    await typed(db, "c1", "look around")
    await sessions.ingest(hook_event(1, "UserPromptSubmit", EventKind.PROMPT,
                                     last_prompt="look around"))
    await sessions.ingest(hook_event(2, "PreToolUse", EventKind.TOOL_START, tool_name="Task",
                                     tool_input='{"description":"Map the repo","prompt":"x"}',
                                     tool_use_id="t1"))
    await sessions.ingest(hook_event(3, "SubagentStart", EventKind.SUBAGENT_START,
                                     agent_type="Explore", agent_id="a1"))
    async with db.reading() as conn:
        running = await cards.activity(conn, "c1")
    assert running["now"] == "🤖 subagent Explore"
    assert [r["line"] for r in running["recent"]] == ["Task: Map the repo"]
    await sessions.ingest(hook_event(4, "SubagentStop", EventKind.SUBAGENT_STOP,
                                     agent_type="Explore", agent_id="a1"))
    async with db.reading() as conn:
        after = await cards.activity(conn, "c1")
    assert after["now"] == "Task: Map the repo"  # the Task call itself still runs
    assert "🤖 subagent Explore (done)" in [r["line"] for r in after["recent"]]
    assert after["summary"] == "1 step: 1 Task"
