"""Turns that end on an API error, and sessions that end, as the phone sees them: through the
real hub, tmux, the stand-in agent and the Bot API stand-in. The newer hook events
(StopFailure, SessionEnd) are posted signed, as `ccr hook` posts them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import CHAT, World, make_world
from tests.fixtures.tmux import Tmux


def buttons(msg: dict[str, Any]) -> list[str]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["callback_data"] for row in rows for b in row]


def turn_id(state: Path) -> str:
    """The prompt_id the agent gave its last turn (its UserPromptSubmit said so)."""
    events = [json.loads(line) for line in (state / "events.jsonl").read_text().splitlines()]
    return str([e for e in events if e["hook_event_name"] == "UserPromptSubmit"][-1]["prompt_id"])


def started(tmp_path: Path, botapi: Any, tmux: Tmux) -> World:
    w = make_world(tmp_path, botapi, tmux, None, sections={
        "commands": {"confirm_after_s": 30}, "alerts": {"interval_s": 60}})
    w.hub.start()
    return w


def test_a_logged_out_claude_fails_the_command_with_retry_and_alerts_the_admin(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    try:
        pane, state = w.start_agent("laptop", "failed")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd laptop:1 /sleep 600")
        card = w.botapi.wait_for_message(lambda m: "/sleep 600" in m["text"]
                                         and "✓✓" in m["text"])
        w.post_hook(pane, "StopFailure", error="authentication_failed", prompt_id=turn_id(state),
                    last_prompt="/sleep 600", last_reply="Invalid API key · Fix external API key")
        failed = w.botapi.wait_for_message(
            lambda m: m["message_id"] == card["message_id"] and "stopped on an error" in m["text"])
        text = failed["text"]
        assert "❌ laptop:1 · Claude stopped on an error" in text
        assert "💬 Claude: Invalid API key · Fix external API key" in text
        assert "Claude on laptop is logged out: run `claude /login` on laptop." in text
        assert "1. On that machine, run `claude /login`" in text
        assert [b[:2] for b in buttons(failed)] == ["r:", "h:", "sc"]
        assert buttons(failed)[1] == "h:claude_logged_out"
        # The admins (this chat is one) are alerted once, with an Acknowledge button.
        alert = w.botapi.wait_for_message(lambda m: "Alert #1" in m["text"])
        assert "Claude Code logged out on laptop" in alert["text"]
        assert "run `claude /login` on laptop" in alert["text"]
        assert buttons(alert) == ["ack:1"]
        # The live message is the word on the command: no separate notification about it.
        time.sleep(1.0)
        def told_apart() -> list[dict[str, Any]]:
            return [m for m in w.botapi.sent_messages(CHAT) if "stopped on an error" in m["text"]
                    and m["message_id"] != card["message_id"]]

        assert told_apart() == []
        # A second failure on that server within the cooldown alerts nobody again.
        w.post_hook(pane, "StopFailure", error="authentication_failed",
                    last_reply="Invalid API key · Fix external API key")
        w.botapi.wait_for_message(lambda m: "stopped on an error" in m["text"]
                                  and m["message_id"] != card["message_id"])
        # Retry types the command again.
        w.botapi.push_callback(CHAT, failed["message_id"], buttons(failed)[0])
        assert w.wait_prompts(state, 2) == ["/sleep 600", "/sleep 600"]
        # Claude answers again on that server (logged in): the alert resolves.
        w.post_hook(pane, "Stop", last_reply="Done.")
        w.botapi.wait_for_message(lambda m: "Resolved: alert #1" in m["text"], timeout=15)
        assert w.hub.api("GET", "/api/alerts").json()["alerts"] == []
        assert len([m for m in w.botapi.sent_messages(CHAT) if "Alert #" in m["text"]]) == 1
    finally:
        w.hub.stop()


def test_a_failed_turn_typed_at_the_keyboard_is_told_in_plain_words(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    try:
        pane, _ = w.start_agent("laptop", "keyboard")
        w.notification_for("laptop:1")
        w.post_hook(pane, "StopFailure", error="rate_limit", last_prompt="refactor the cart",
                    last_reply="API Error: Rate limit reached")
        told = w.botapi.wait_for_message(lambda m: "Rate limit reached" in m["text"])
        text = told["text"]
        assert "❌ laptop:1" in text and "Claude stopped on an error" in text
        assert "You: refactor the cart" in text
        assert "Claude on laptop hit its usage limit (rate limit)" in text
        assert "1. Wait for the limit to reset" in text
        time.sleep(1.0)
        assert not [m for m in w.botapi.sent_messages(CHAT) if "Alert #" in m["text"]], \
            "a rate limit resets by itself: no admin alert"
    finally:
        w.hub.stop()


GROUP = -1001234567890


def test_session_end_closes_its_topic_and_leaves_sessions_until_claude_is_back(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = make_world(tmp_path, botapi, tmux, None,
                   telegram={"allowed_chats": [CHAT, GROUP], "topics_chat": GROUP})
    w.hub.start()
    try:
        pane, state = w.start_agent("laptop", "ending")
        w.botapi.wait_for_message(lambda m: m["chat_id"] == GROUP and "laptop:1" in m["text"])
        topic = w.botapi.wait_for_topic(lambda t: t["name"].startswith("laptop:1 "))
        thread = topic["message_thread_id"]
        w.post_hook(pane, "SessionEnd", reason="prompt_input_exit")
        # At once, not at the next health check: off /sessions, its topic closed.
        w.botapi.wait_for_topic(lambda t: t["message_thread_id"] == thread
                                and t["state"] == "closed", timeout=5)
        assert w.hub.api("GET", "/api/sessions").json()["sessions"] == []
        w.botapi.push_text(CHAT, "/sessions")
        w.botapi.wait_for_message(lambda m: m["chat_id"] == CHAT
                                  and "No live sessions yet" in m["text"])
        w.botapi.push_text(CHAT, "/cmd laptop:1 are you there")
        w.botapi.wait_for_message(
            lambda m: "❌ There is no live session 'laptop:1'." in m["text"])
        time.sleep(0.5)
        assert w.prompts(state) == [], "nothing typed into a pane Claude has left"
        # Claude Code starts again in that pane: the same session and topic are back.
        w.post_hook(pane, "SessionStart", source="startup")
        w.botapi.wait_for_topic(lambda t: t["message_thread_id"] == thread
                                and t["state"] == "open", timeout=5)
        (session,) = w.hub.api("GET", "/api/sessions").json()["sessions"]
        assert session["handle"] == "laptop:1"
        w.botapi.push_text(GROUP, "welcome back", thread_id=thread, user_id=CHAT)
        assert w.wait_prompts(state, 1) == ["welcome back"]
        assert len(w.botapi.calls_to("createForumTopic")) == 1
    finally:
        w.hub.stop()
