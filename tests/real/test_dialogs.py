"""The real client's dialogs on Telegram: its permission dialog offered as buttons (Yes runs
the tool, No refuses it) and its AskUserQuestion menu answered from a button."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import CHAT
from tests.fixtures.claude import Claude
from tests.fixtures.hub import wait_until
from tests.messages_api import ask, bash
from tests.real.conftest import Real

pytestmark = [pytest.mark.e2e, pytest.mark.real]


def buttons(msg: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def tap(w: Real, msg: dict[str, Any], label: str) -> str:
    """Press the button called `label`; what the bot answered (the notice on the phone)."""
    data = dict(buttons(msg))[label]
    before = len(w.botapi.callback_answers)
    w.botapi.push_callback(CHAT, msg["message_id"], data)
    wait_until(lambda: len(w.botapi.callback_answers) > before, 15, message="an answer")
    return str(w.botapi.callback_answers[before].get("text", ""))


def started(w: Real, name: str) -> Claude:
    """A real client whose session the hub knows (it has stopped once)."""
    claude = w.claude(name)
    claude.type("hi")
    w.world.notification_for(w.handle(), timeout=30)
    return claude


def offered(w: Real, text: str, question: str) -> dict[str, Any]:
    """/cmd `text`; the message that offers the dialog asking `question`, with buttons.
    (The real client tells its hooks about a dialog after ~6 s of the person idling.)"""
    seen = {m["message_id"] for m in w.botapi.sent_messages()}
    w.botapi.push_text(CHAT, f"/cmd {w.handle()} {text}")
    msg = w.botapi.wait_for_message(
        lambda m: m["message_id"] not in seen
        and (question in m["text"] or "needs your permission" in m["text"]), timeout=30)
    assert w.api.problems == [], "scripted tool uses fit the tools the client offers"
    assert question in msg["text"] and buttons(msg), f"no buttons for the dialog:\n{msg['text']}"
    return msg


def test_permission_dialog_as_buttons_yes_runs_the_tool(anywhere: Real) -> None:
    w = anywhere
    w.api.on("make the file", bash("touch yes.txt && echo made it"))
    claude = started(w, "yes")
    msg = offered(w, "make the file", "Do you want to proceed?")
    assert "Bash command" in msg["text"] and "touch yes.txt" in msg["text"]
    labels = [label for label, _ in buttons(msg)]
    assert labels[0] == "Yes" and labels[1].startswith("Yes, and") and labels[2] == "No"
    assert labels[3] == "⎋ Esc" and labels[4] == "🖼 Screen" and len(labels) == 5
    assert "Chose 1. Yes" in tap(w, msg, "Yes")
    wait_until(lambda: (claude.project / "yes.txt").exists(), 15, message="the tool to run")
    done = w.botapi.wait_for_message(lambda m: "The tool said: made it" in m["text"]
                                     and "make the file" in m["text"], timeout=20)
    assert "Done in" in done["text"]
    w.botapi.wait_for_message(lambda m: m["message_id"] == msg["message_id"]
                              and "You chose: 1. Yes" in m["text"] and not buttons(m))


def test_permission_dialog_no_refuses_the_tool(real: Real) -> None:
    real.api.on("make it anyway", bash("touch no.txt && echo made it"))
    claude = started(real, "no")
    msg = offered(real, "make it anyway", "Do you want to proceed?")
    assert "touch no.txt" in msg["text"]
    assert "Chose 3. No" in tap(real, msg, "No")
    claude.wait_for("Interrupted · What should Claude do instead?")
    real.botapi.wait_for_message(lambda m: m["message_id"] == msg["message_id"]
                                 and "You chose: 3. No" in m["text"] and not buttons(m))
    assert not (claude.project / "no.txt").exists()
    # Claude waits for the person's next words; they are typed as usual.
    real.botapi.push_text(CHAT, f"/cmd {real.handle()} never mind")
    real.wait_prompts(claude, 3)
    assert real.prompts(claude)[-1] == "never mind"
    # The real client fires no Stop after a refused tool: the hub ends that command itself,
    # and says why, instead of leaving it "working".
    card = real.botapi.wait_for_message(
        lambda m: "make it anyway" in m["text"] and "Claude stopped that work" in m["text"],
        timeout=15)
    assert "working" not in card["text"] and "later prompt" not in card["text"]
    command = next(c for c in real.world.hub.api("GET", "/api/commands").json()["commands"]
                   if c["text"] == "make it anyway")
    assert command["state"] == "cancelled"


def test_ask_user_question_menu_answered_from_a_button(real: Real) -> None:
    real.api.on("pick a colour", ask("Which colour should the button be?", ["Red", "Blue"],
                                     header="Colour"))
    claude = started(real, "ask")
    msg = offered(real, "pick a colour", "Which colour should the button be?")
    labels = [label for label, _ in buttons(msg)]
    assert labels[:2] == ["Red", "Blue"]
    tap(real, msg, "Blue")
    claude.wait_for("→ Blue")
    real.botapi.wait_for_message(
        lambda m: '"Which colour should the button be?"="Blue"' in m["text"]
        and "Done in" in m["text"], timeout=20)
