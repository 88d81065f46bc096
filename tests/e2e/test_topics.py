"""Topics as a user lives them: in a forum group each session has its own topic; what Claude
says lands there, and plain text typed there goes to that session's pane. Real hub process,
real tmux, the Bot API stand-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, World, make_world
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e

GROUP = -1001234567890


def topics_world(tmp_path: Path, botapi: Any, tmux: Tmux, **telegram: Any) -> World:
    settings = {"allowed_chats": [CHAT, GROUP], "topics_chat": GROUP, **telegram}
    return make_world(tmp_path, botapi, tmux, None, telegram=settings,
                      reliability={"health_interval_s": 0.5})


@pytest.fixture
def world(tmp_path: Path, botapi: Any, tmux: Tmux) -> Iterator[World]:
    w = topics_world(tmp_path, botapi, tmux)
    w.hub.start()
    yield w
    w.hub.stop()


def in_group(world: World, *words: str, thread: int | None = None) -> dict[str, Any]:
    """The bot's first message in the group containing all `words` (in `thread` if given)."""
    return dict(world.botapi.wait_for_message(
        lambda m: m["chat_id"] == GROUP and all(w in m["text"] for w in words)
        and (thread is None or m.get("message_thread_id") == thread)))


def topic_of(world: World, handle: str) -> dict[str, Any]:
    return dict(world.botapi.wait_for_topic(lambda t: t["name"].startswith(handle + " ")))


def test_session_gets_a_topic_and_text_typed_there_reaches_its_pane(world: World) -> None:
    pane, state = world.start_agent("laptop", "shop")
    note = in_group(world, "laptop:1", "Reply to this message")
    topic = topic_of(world, "laptop:1")
    thread = topic["message_thread_id"]
    assert topic["name"] == f"laptop:1 · {world.workdir.name}" and topic["state"] == "open"
    assert note["message_thread_id"] == thread and note["is_topic_message"]
    # The private chat still gets its notification, without any topic.
    assert "message_thread_id" not in world.notification_for("laptop:1")

    # No handle, no reply: just text in the topic.
    world.botapi.push_text(GROUP, "run the tests", thread_id=thread, user_id=CHAT)
    assert world.wait_prompts(state, 1) == ["run the tests"]
    world.tmux.wait_for_text(pane, "You said: run the tests")
    done = in_group(world, "You said: run the tests", thread=thread)
    assert done["message_id"] > note["message_id"]

    # /cmd still works in a topic, and what it says back stays in that topic.
    world.botapi.push_text(GROUP, "/cmd laptop:1 and lint", thread_id=thread, user_id=CHAT)
    assert world.wait_prompts(state, 2) == ["run the tests", "and lint"]
    in_group(world, "You said: and lint", thread=thread)
    assert len(world.botapi.calls_to("createForumTopic")) == 1, "the second message reused it"
    assert all(m.get("message_thread_id") == thread
               for m in world.botapi.sent_messages(GROUP) if "laptop:1" in m["text"])


def test_general_and_unknown_topics_get_help_not_a_session(world: World) -> None:
    _, state = world.start_agent("laptop", "quiet")
    in_group(world, "laptop:1", "Reply to this message")
    world.botapi.push_text(GROUP, "hello?", user_id=CHAT)
    help_general = in_group(world, "To answer Claude")
    assert "message_thread_id" not in help_general
    # A topic people made for themselves.
    _, made = world.botapi.handle("createForumTopic", {"chat_id": GROUP, "name": "chitchat"})
    other = made["result"]["message_thread_id"]
    world.botapi.push_text(GROUP, "anyone?", thread_id=other, user_id=CHAT)
    in_group(world, "not a ccr session", thread=other)
    assert world.prompts(state) == []


def test_lost_pane_closes_the_topic_and_its_return_reopens_it(world: World) -> None:
    world.start_agent("laptop", "phoenix")
    in_group(world, "laptop:1", "Reply to this message")
    thread = topic_of(world, "laptop:1")["message_thread_id"]

    world.tmux.crash_session("phoenix")
    world.botapi.wait_for_topic(lambda t: t["message_thread_id"] == thread
                                and t["state"] == "closed")
    world.botapi.push_text(GROUP, "still there?", thread_id=thread, user_id=CHAT)
    in_group(world, "lost its tmux pane", thread=thread)

    # Claude starts again in the same tmux session: its hook brings the session back.
    _, state = world.start_agent("laptop", "phoenix")
    world.botapi.wait_for_topic(lambda t: t["message_thread_id"] == thread
                                and t["state"] == "open")
    world.botapi.push_text(GROUP, "welcome back", thread_id=thread, user_id=CHAT)
    assert world.wait_prompts(state, 1) == ["welcome back"]
    assert len(world.botapi.calls_to("createForumTopic")) == 1


@pytest.mark.parametrize("status", [400, 500])
def test_topic_creation_failing_still_delivers_and_is_retried(
        status: int, tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    botapi.fail("createForumTopic", status, times=1)
    w = topics_world(tmp_path, botapi, tmux)
    w.hub.start()
    try:
        pane, state = w.start_agent("laptop", "bumpy")
        note = in_group(w, "laptop:1", "Reply to this message")
        assert "message_thread_id" not in note, "the notification went to General"
        assert botapi.forum_topics(GROUP) == []
        # The next message of the session (someone typed at the machine) tries again.
        type_at_the_machine(w, pane, "go on")
        assert w.wait_prompts(state, 1) == ["go on"]
        thread = topic_of(w, "laptop:1")["message_thread_id"]
        in_group(w, "You said: go on", thread=thread)
        assert len(botapi.calls_to("createForumTopic")) == 2
    finally:
        w.hub.stop()


def test_topic_deleted_by_hand_is_made_anew(world: World) -> None:
    pane, state = world.start_agent("laptop", "tidy")
    in_group(world, "laptop:1", "Reply to this message")
    first = topic_of(world, "laptop:1")["message_thread_id"]
    world.botapi.handle("deleteForumTopic", {"chat_id": GROUP, "message_thread_id": first})

    type_at_the_machine(world, pane, "one")
    assert world.wait_prompts(state, 1) == ["one"]
    lost = in_group(world, "You said: one")
    assert "message_thread_id" not in lost, "not lost: it went to General"
    type_at_the_machine(world, pane, "two")
    assert world.wait_prompts(state, 2) == ["one", "two"]
    second = world.botapi.wait_for_topic(lambda t: t["state"] == "open")["message_thread_id"]
    assert second != first
    in_group(world, "You said: two", thread=second)


def test_restart_reuses_the_recorded_topic(world: World) -> None:
    _, state = world.start_agent("laptop", "steady")
    in_group(world, "laptop:1", "Reply to this message")
    thread = topic_of(world, "laptop:1")["message_thread_id"]
    world.hub.stop()
    world.hub.start()
    world.botapi.push_text(GROUP, "after restart", thread_id=thread, user_id=CHAT)
    assert world.wait_prompts(state, 1) == ["after restart"]
    in_group(world, "You said: after restart", thread=thread)
    assert len(world.botapi.calls_to("createForumTopic")) == 1


def test_without_topics_chat_nothing_changes(tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = make_world(tmp_path, botapi, tmux, None,
                   telegram={"allowed_chats": [CHAT, GROUP]})
    w.hub.start()
    try:
        _, state = w.start_agent("laptop", "plain")
        note = in_group(w, "laptop:1", "Reply to this message")
        botapi.push_text(GROUP, "by reply", reply_to_message_id=note["message_id"],
                         user_id=CHAT)
        assert w.wait_prompts(state, 1) == ["by reply"]
        in_group(w, "You said: by reply")
        assert botapi.calls_to("createForumTopic") == []
        assert not any("message_thread_id" in m for m in botapi.sent_messages())
    finally:
        w.hub.stop()


def type_at_the_machine(w: World, pane: str, text: str) -> None:
    """Someone at the laptop types into Claude: its answer is a session message, not a
    command's (which would show on the command's own message instead)."""
    w.tmux.run("send-keys", "-t", pane, "-l", text)
    time.sleep(0.3)  # past the agent's burst window, so the Enter submits
    w.tmux.run("send-keys", "-t", pane, "Enter")
