"""A command's live message on Telegram, through the real hub, tmux, hook and Bot API stand-in.

What a person on the phone sees: one message per command, acknowledged at once and edited
in place (typed, received, still working, done with Claude's reply, or failed with steps),
and buttons that do what they say and refuse what they should not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import CHAT, World, make_world
from tests.fixtures.hub import wait_until
from tests.fixtures.tmux import Tmux


def buttons(msg: dict[str, Any]) -> list[str]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["callback_data"] for row in rows for b in row]


def about(w: World, text: str) -> list[dict[str, Any]]:
    """The bot's messages that quote `text` (a command's live message quotes it)."""
    return [m for m in w.botapi.sent_messages(CHAT) if text in m["text"]]


def answers(w: World) -> list[str]:
    return [a.get("text", "") for a in w.botapi.callback_answers]


def started(tmp_path: Path, botapi: Any, tmux: Tmux, **commands: Any) -> World:
    w = make_world(tmp_path, botapi, tmux, None, sections={
        "commands": {"confirm_after_s": 2, **commands},
        "aliases": {"ok": "yes, continue"}})
    w.hub.start()
    return w


def test_one_live_message_from_acknowledgement_to_claudes_answer(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux, progress_after_s=1)
    try:
        _, state = w.start_agent("laptop", "life", "--reply-delay", "2.5")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd laptop:1 write the summary")
        ack = w.botapi.wait_for_message(lambda m: "write the summary" in m["text"])
        assert "laptop:1" in ack["text"] and buttons(ack)[0].startswith("c:")
        assert w.wait_prompts(state, 1) == ["write the summary"]
        working = w.botapi.wait_for_message(
            lambda m: "write the summary" in m["text"] and "still working" in m["text"])
        assert working["message_id"] == ack["message_id"]
        done = w.botapi.wait_for_message(
            lambda m: "write the summary" in m["text"] and "Done in" in m["text"])
        assert done["message_id"] == ack["message_id"]
        assert "You said: write the summary" in done["text"]
        assert any(b.startswith("r:") for b in buttons(done)) and "s:" in buttons(done)
        # Its history: acknowledged, typed, Claude received it, still working, done.
        edits = done["edits"]
        assert any("✓✓ Claude" in e for e in edits), edits
        assert len(about(w, "write the summary")) == 1, "edits, not new messages"
        command = w.hub.api("GET", "/api/commands").json()["commands"][0]
        assert command["state"] == "completed" and command["received_at"]
        assert command["reply"] == "You said: write the summary"
    finally:
        w.hub.stop()


def test_cancel_interrupts_claude_with_a_confirmed_ctrl_c(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    try:
        pane, state = w.start_agent("laptop", "cancel")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd laptop:1 /sleep 60")
        w.wait_prompts(state, 1)
        card = w.botapi.wait_for_message(
            lambda m: "/sleep 60" in m["text"] and "✓✓" in m["text"])
        w.botapi.push_callback(CHAT, card["message_id"], f"c:{card_id(card)}")
        asking = w.botapi.wait_for_message(
            lambda m: m["message_id"] == card["message_id"]
            and any(b.startswith("cy:") for b in buttons(m)))
        assert "^C" not in w.tmux.capture(pane), "nothing pressed before the confirmation"
        w.botapi.push_callback(CHAT, asking["message_id"], buttons(asking)[0])
        w.tmux.wait_for_text(pane, "^C (interrupted)")
        ended = w.botapi.wait_for_message(
            lambda m: m["message_id"] == card["message_id"] and "Cancelled" in m["text"])
        assert "Ctrl-C" in ended["text"]
        wait_until(lambda: any("Ctrl-C pressed" in a for a in answers(w)), 5,
                   message="the tap answered")
    finally:
        w.hub.stop()


def test_a_queued_command_is_withdrawn_and_never_typed(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    # A 3 s settle before each Enter holds the pane that long: the second command queues.
    w = make_world(tmp_path, botapi, tmux, None, settle_ms=3000, submit="fixed", sections={
        "commands": {"confirm_after_s": 30}})
    w.hub.start()
    try:
        _, state = w.start_agent("laptop", "queue")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd laptop:1 first, holding the pane")
        w.botapi.wait_for_message(lambda m: "holding the pane" in m["text"])
        w.botapi.push_text(CHAT, "/cmd laptop:1 second, to withdraw")
        queued = w.botapi.wait_for_message(
            lambda m: "to withdraw" in m["text"] and "Queued" in m["text"])
        w.botapi.push_callback(CHAT, queued["message_id"], f"c:{card_id(queued)}")
        w.botapi.wait_for_message(
            lambda m: m["message_id"] == queued["message_id"] and "Cancelled" in m["text"])
        assert w.wait_prompts(state, 1) == ["first, holding the pane"]
        time.sleep(4)  # the withdrawn one would have been typed by now
        assert w.prompts(state) == ["first, holding the pane"]
        assert any("Withdrawn" in a for a in answers(w))
    finally:
        w.hub.stop()


def test_rerun_types_the_text_again_once_and_forged_buttons_do_nothing(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    try:
        _, state = w.start_agent("laptop", "rerun")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd laptop:1 ok")  # an alias from ccr.toml
        done = w.botapi.wait_for_message(
            lambda m: "yes, continue" in m["text"] and "Done in" in m["text"])
        assert "ok</code>" in done["raw"] or "ok" in done["text"].split("→")[0]
        rerun = next(b for b in buttons(done) if b.startswith("r:"))
        update = w.botapi.push_callback(CHAT, done["message_id"], rerun)
        assert w.wait_prompts(state, 2) == ["yes, continue", "yes, continue"]
        w.botapi.redeliver(update)  # Telegram hands the tap out again: no second effect
        for forged in ("c:zzz", "r:c0000000000", "h:no_such_code", "x:1", "c:" + "a" * 70):
            w.botapi.push_callback(CHAT, done["message_id"], forged)
        wait_until(lambda: len(answers(w)) >= 6, 10, message="every tap answered")
        time.sleep(1.0)
        assert w.prompts(state) == ["yes, continue", "yes, continue"]
        said = answers(w)
        assert any("not valid" in a for a in said) and any("no command" in a for a in said)
        assert len(about(w, "yes, continue")) == 2, "one live message per command"
    finally:
        w.hub.stop()


def test_unconfirmed_text_shows_what_the_pane_shows_and_a_timeout_ends_it(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux, timeout_s=6)
    try:
        pane, _ = w.start_agent("laptop", "menu", "--reply-delay", "0")
        w.notification_for("laptop:1")
        # Claude shows a permission menu: typed text goes into the menu (its Enter picks the
        # highlighted option), never becoming a prompt. The person is shown the pane.
        w.botapi.push_text(CHAT, "/cmd laptop:1 /permission")
        w.tmux.wait_for_text(pane, "Do you want to proceed?")
        w.botapi.push_text(CHAT, "/cmd laptop:1 are you there")
        shown = w.botapi.wait_for_message(
            lambda m: "are you there" in m["text"] and "not confirmed" in m["text"])
        assert "The pane shows" in shown["text"]
        assert "Bash(echo 'stand-in permission check')" in shown["text"]
        ended = w.botapi.wait_for_message(
            lambda m: "are you there" in m["text"] and "No answer after" in m["text"],
            timeout=20)
        assert "did not finish" in ended["text"] and any(
            b.startswith("r:") for b in buttons(ended))
    finally:
        w.hub.stop()


def card_id(msg: dict[str, Any]) -> str:
    """The command id a live message names ("command c0123456789")."""
    for word in msg["text"].split():
        if word.startswith("c") and len(word) == 11 and word[1:].isalnum():
            return word
    raise AssertionError(f"no command id in {msg['text']!r}")


def test_a_bare_cmd_asks_where_and_a_wrong_handle_gets_suggestions(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    try:
        _, state = w.start_agent("laptop", "bare")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd lapotp:1 hello")
        wrong = w.botapi.wait_for_message(lambda m: "lapotp:1" in m["text"])
        assert "Did you mean laptop:1?" in wrong["text"]

        update = w.botapi.push_text(CHAT, "/cmd please continue with the plan")
        question = w.botapi.wait_for_message(
            lambda m: "please continue with the plan" in m["text"] and "Send" in m["text"])
        assert "laptop:1" in question["text"]
        w.botapi.redeliver(update)  # a redelivered /cmd asks no second time
        time.sleep(1.0)
        assert w.prompts(state) == [], "nothing typed before the tap"
        send = next(b for b in buttons(question) if b.startswith("d:"))
        w.botapi.push_callback(CHAT, question["message_id"], send)
        assert w.wait_prompts(state, 1) == ["please continue with the plan"]
        w.botapi.push_callback(CHAT, question["message_id"], send)  # a second tap: stale
        wait_until(lambda: any("sent or dropped already" in a for a in answers(w)), 5,
                   message="the stale tap refused")
        time.sleep(0.5)
        assert w.prompts(state) == ["please continue with the plan"]
        asked = [m for m in w.botapi.sent_messages(CHAT)
                 if "please continue with the plan" in m["text"] and "Send" in m["text"]]
        assert len(asked) == 1
    finally:
        w.hub.stop()


def test_rich_messages_off_is_the_plain_one_shot_result(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = make_world(tmp_path, botapi, tmux, None,
                   sections={"commands": {"rich_messages": False}})
    w.hub.start()
    try:
        _, state = w.start_agent("laptop", "plain")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd laptop:1 plain please")
        assert w.wait_prompts(state, 1) == ["plain please"]
        typed = w.botapi.wait_for_message(lambda m: m["text"].startswith("📨"))
        assert "plain please" in typed["text"] and not buttons(typed)
        w.botapi.wait_for_message(
            lambda m: "You said: plain please" in m["text"] and "Claude finished" in m["text"])
        assert not any("Done in" in m["text"] for m in w.botapi.sent_messages(CHAT))
    finally:
        w.hub.stop()


def test_the_final_state_survives_a_deleted_message_and_rate_limited_edits(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    try:
        _, state = w.start_agent("laptop", "edits", "--reply-delay", "2")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd laptop:1 first")
        card = w.botapi.wait_for_message(lambda m: "first" in m["text"] and "✓✓" in m["text"])
        w.botapi.delete_message(CHAT, card["message_id"])  # the person deleted it
        done = w.botapi.wait_for_message(
            lambda m: "You said: first" in m["text"] and "Done in" in m["text"])
        assert done["message_id"] != card["message_id"], "sent anew, not lost"

        w.botapi.fail("editMessageText", 429, times=2, retry_after=1)
        w.botapi.push_text(CHAT, "/cmd laptop:1 second")
        w.wait_prompts(state, 2)
        done = w.botapi.wait_for_message(
            lambda m: "You said: second" in m["text"] and "Done in" in m["text"], timeout=30)
        assert len(about(w, "second")) == 1, "the edits waited out the flood control"
        assert w.hub.api("GET", "/api/dlq").json()["entries"] == []
    finally:
        w.hub.stop()
