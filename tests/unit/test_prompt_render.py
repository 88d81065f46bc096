"""A question from Claude on Telegram: escaped, redacted, within limits, one button per option."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ccr.core.dialogs import parse
from ccr.services.prompting import payload_of
from ccr.telegram import render
from tests.unit.test_render import check
from tests.unit.test_render import payload as base

SECRET = "sk-ant-api03-" + "Ab3_" * 10
SCREEN = f"""\
╭──────────────────────────────────────────────────────────╮
│ Bash command                                             │
│                                                          │
│   curl -H 'x-api-key: {SECRET}' https://a.b/<v1>&q=1     │
│                                                          │
│ Do you want to proceed?                                  │
│ ❯ 1. Yes                                                 │
│   2. Yes, and don't ask again for curl <commands> & more │
│   3. No, and tell Claude what to do differently (esc)    │
╰──────────────────────────────────────────────────────────╯
"""


def prompt_payload(**over: Any) -> dict[str, Any]:
    prompt = parse(SCREEN)
    assert prompt is not None
    return {**base(event="waiting", message="Claude needs your permission to use Bash",
                   reply="", prompt=""), **payload_of(prompt, 7), **over}


def test_question_context_and_options_are_shown_escaped_and_redacted() -> None:
    raw = render.item_text("notification", prompt_payload())
    text = check(raw)
    assert "Bash command" in text and "Do you want to proceed?" in text
    assert "https://a.b/<v1>&q=1" in text and "&lt;v1&gt;&amp;q=1" in raw
    assert SECRET not in text and "[redacted]" in text
    assert "2. Yes, and don't ask again for curl <commands> & more" in text
    assert "Tap a choice" in text


def test_one_button_per_option_and_esc() -> None:
    rows = render.buttons("notification", prompt_payload())
    assert [len(r) for r in rows] == [1, 1, 1, 1, 1]
    labels = [r[0][0] for r in rows]
    data = [r[0][1] for r in rows]
    assert labels[0] == "Yes" and labels[2].startswith("No, and tell") and labels[3] == "⎋ Esc"
    assert labels[4] == "🖼 Screen", "the dialog itself, as a picture"
    assert all(render.u16len(label) <= render.BUTTON_CHARS for label in labels)
    assert data == ["p:7:1", "p:7:2", "p:7:3", "p:7:esc", "scr:abcd2345"]
    assert all(len(d.encode()) <= 64 for d in data)


def test_answered_shows_the_choice_and_no_buttons() -> None:
    chose = check(render.item_text("notification", prompt_payload(answered="1. Yes")))
    assert "You chose: 1. Yes" in chose and "Tap a choice" not in chose
    assert render.buttons("notification", prompt_payload(answered="1. Yes")) == []
    assert "Dismissed" in check(render.item_text("notification",
                                                 prompt_payload(answered="esc")))


def test_plain_notifications_and_alerts_keep_their_buttons() -> None:
    assert render.buttons("notification", base()) == [  # the session's Stop, Clear, Screen
        [("⏹ Stop", "ss:abcd2345"), ("🧹 Clear", "sc:abcd2345"), ("🖼 Screen", "scr:abcd2345")]]
    assert render.buttons("alert", {"id": 3, "state": "firing"}) == [
        [("🔕 Acknowledge", "ack:3")]]


@settings(max_examples=150, deadline=None)
@given(question=st.text(max_size=400), label=st.text(min_size=1, max_size=400),
       context=st.lists(st.text(max_size=400), max_size=12))
def test_any_question_renders_within_limits(question: str, label: str,
                                            context: list[str]) -> None:
    options = [{"number": n, "label": label, "detail": label} for n in range(1, 10)]
    check(render.item_text("notification", prompt_payload(
        question=question, context=context, options=options, title=label)))


def test_the_longest_question_still_fits() -> None:
    long = "é<&🎉" * 200
    options = [{"number": n, "label": long, "detail": long} for n in range(1, 10)]
    text = check(render.item_text("notification", prompt_payload(
        question=long, title=long, context=[long] * 12, context_more=30, options=options,
        message=long, project=long, degraded=long)))
    assert "9. " in text and "Tap a choice" in text
