"""Claude's permission dialog answered with one tap: real hook -> real hub -> the pane read
with capture-pane -> buttons on the Bot API stand-in -> a key pressed in the real pane."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, World
from tests.fixtures.hub import hook_env, run_hook, wait_until

pytestmark = pytest.mark.e2e

COMMAND = "echo 'stand-in permission check'"
QUICK = ("--permission-idle-s", "1")
"""The stand-in tells its hooks about a dialog after 1 s idle instead of Claude Code's 6."""


def buttons(msg: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def ask(world: World, handle: str) -> dict[str, Any]:
    """/permission in the session; the message that offers the dialog's options."""
    seen = {m["message_id"] for m in world.botapi.sent_messages()}
    world.botapi.push_text(CHAT, f"/cmd {handle} /permission")
    return world.botapi.wait_for_message(
        lambda m: m["message_id"] not in seen and "Do you want to proceed?" in m["text"]
        and bool(buttons(m)))


def tap(world: World, msg: dict[str, Any], data: str) -> str:
    """Press a button; what the bot answered (the little notice on the phone)."""
    before = len(world.botapi.callback_answers)
    world.botapi.push_callback(CHAT, msg["message_id"], data)
    wait_until(lambda: len(world.botapi.callback_answers) > before, 15, message="an answer")
    return str(world.botapi.callback_answers[before].get("text", ""))


def stops(state: Path) -> int:
    path = state / "events.jsonl"
    return sum(json.loads(line)["hook_event_name"] == "Stop"
               for line in path.read_text().splitlines() if line.strip())


def input_line(world: World, pane: str) -> str:
    return world.tmux.capture(pane).rstrip().rsplit("\n", 1)[-1]


def answer_and_check(world: World, handle: str, pane: str, state: Path) -> dict[str, Any]:
    """The whole happy path; returns the (edited) message."""
    msg = ask(world, handle)
    assert COMMAND in msg["text"] and "Bash command" in msg["text"]
    labels = [label for label, _ in buttons(msg)]
    assert labels[0] == "Yes" and labels[1].startswith("Yes, and always allow access to")
    assert labels[2] == "No" and labels[3] == "⎋ Esc" and labels[4] == "🖼 Screen"
    assert len(labels) == 5
    data = buttons(msg)[0][1]
    assert data.startswith("p:") and data.endswith(":1")

    assert "Chose 1. Yes" in tap(world, msg, data)
    world.tmux.wait_for_text(pane, "⎿  stand-in permission check")
    done = world.botapi.wait_for_message(
        lambda m: f"Ran the command: {COMMAND}" in m["text"] and "Claude finished" in m["text"])
    assert handle in done["text"]
    edited = world.botapi.wait_for_message(
        lambda m: m["message_id"] == msg["message_id"] and "You chose: 1. Yes" in m["text"])
    assert not buttons(edited) and "Do you want to proceed?" in edited["text"]
    return msg


def test_permission_dialog_answered_with_a_tap(world: World) -> None:
    pane, state = world.start_agent("laptop", "perm", *QUICK)
    world.notification_for("laptop:1")
    msg = answer_and_check(world, "laptop:1", pane, state)
    data = buttons(msg)[0][1]
    prompt_id = data.split(":")[1]
    assert stops(state) == 1

    # A second tap of the same button types nothing more.
    assert "already answered" in tap(world, msg, data)
    # Forged and stale data are refused in plain words.
    assert "not valid" in tap(world, msg, "p:999:1")
    assert "no option 9" in tap(world, msg, f"p:{prompt_id}:9")
    assert "not valid" in tap(world, msg, f"p:{prompt_id}:1;rm")
    assert input_line(world, pane) == ">" and stops(state) == 1

    # Answered in the pane itself (at the keyboard): the button says so and types nothing.
    msg2 = ask(world, "laptop:1")
    world.tmux.run("send-keys", "-t", pane, "2")
    wait_until(lambda: stops(state) == 2, 10, message="the second Stop")
    assert "no longer on the screen" in tap(world, msg2, buttons(msg2)[0][1])
    assert input_line(world, pane) == ">" and stops(state) == 2

    # Esc dismisses: the tool is refused and the message says so. As in Claude Code, the
    # turn then ends without a Stop: Claude waits for the person's words.
    msg3 = ask(world, "laptop:1")
    esc = dict((label, d) for label, d in buttons(msg3))["⎋ Esc"]
    assert "Esc" in tap(world, msg3, esc)
    world.tmux.wait_for_text(pane, "Interrupted · What should Claude do instead?")
    world.botapi.wait_for_message(
        lambda m: m["message_id"] == msg3["message_id"] and "Dismissed" in m["text"]
        and not buttons(m))
    time.sleep(0.3)
    assert stops(state) == 2

    # No dialog on the screen: the plain notification, which still takes a reply.
    session_id = json.loads((state / "events.jsonl").read_text().splitlines()[0])["session_id"]
    env = hook_env(world.hub.url, "laptop", world.workdir, TMUX_PANE=pane,
                   TMUX=f"{world.tmux.socket_path},1,0")
    assert run_hook({"hook_event_name": "Notification", "session_id": session_id,
                     "cwd": str(world.workdir), "notification_type": "permission_prompt",
                     "message": "Claude needs your permission to use Write"},
                    env).returncode == 0
    plain = world.botapi.wait_for_message(
        lambda m: "permission to use Write" in m["text"])
    assert "Reply to this message" in plain["text"]
    assert [data[:3] for _, data in buttons(plain)] == ["ss:", "sc:", "scr"], \
        "Stop, Clear and Screen only"
    assert "laptop:1" in plain["text"]


def test_permission_dialog_over_ssh(ssh_world: World) -> None:
    pane, state = ssh_world.start_agent("kr4", "remote-perm", *QUICK)
    ssh_world.notification_for("kr4:1")
    answer_and_check(ssh_world, "kr4:1", pane, state)
    assert stops(state) == 1


def test_a_tap_before_the_hub_recorded_the_message_still_shows_the_choice(
        world: World) -> None:
    """On a slow network the dialog's message is on the phone, and tapped, before the Bot API's
    answer tells the hub its id: the tapped message still says what was chosen."""
    pane, state = world.start_agent("laptop", "perm", *QUICK)
    world.notification_for("laptop:1")
    world.botapi.lag("sendMessage", 4.0,
                     when=lambda p: "Do you want to proceed?" in str(p.get("text", "")))
    msg = ask(world, "laptop:1")
    assert "Chose 1. Yes" in tap(world, msg, buttons(msg)[0][1])
    world.tmux.wait_for_text(pane, "⎿  stand-in permission check")
    edited = world.botapi.wait_for_message(
        lambda m: m["message_id"] == msg["message_id"] and "You chose: 1. Yes" in m["text"])
    assert not buttons(edited) and "Do you want to proceed?" in edited["text"]
    assert stops(state) >= 1
