"""Telegram rendering: any text gives a message Telegram accepts, within 4096 characters."""

from __future__ import annotations

import html.parser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ccr.telegram import render

ALLOWED = {"b", "i", "s", "a", "code", "pre", "blockquote"}


class _Checker(html.parser.HTMLParser):
    """Mirrors Telegram's HTML rules that matter here: known tags, balanced, text length."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text += data


def check(message: str) -> str:
    checker = _Checker()
    checker.feed(message)
    checker.close()
    assert not checker.stack, f"unclosed {checker.stack}"
    assert len(checker.text.encode("utf-16-le")) // 2 <= render.LIMIT
    return checker.text


def payload(**over: Any) -> dict[str, Any]:
    base = {"event": "stop", "handle": "kr4:1", "token": "abcd2345", "server": "kr4",
            "project": "/home/ana/shop", "answerable": True, "prompt": "run tests",
            "reply": "Tests pass.", "new_session": False}
    base.update(over)
    return base


def test_notification_names_server_handle_project_and_reply() -> None:
    text = check(render.notification(payload()))
    assert "kr4:1" in text and "shop" in text and "kr4" in text and "Tests pass." in text
    assert "Reply to this message" in text and "abcd2345" in text


def test_html_in_replies_is_escaped() -> None:
    text = check(render.notification(payload(reply="<b>not bold</b> & <script>")))
    assert "<b>not bold</b> & <script>" in text


def test_unanswerable_session_says_why() -> None:
    text = check(render.notification(payload(answerable=False)))
    assert "not running inside tmux" in text


@settings(max_examples=300, deadline=None)
@given(reply=st.text(max_size=20_000) | st.text("🎉a<&", max_size=6000),
       prompt=st.text(max_size=2000),
       project=st.text(max_size=4096), message=st.text(max_size=5000),
       event=st.sampled_from(["stop", "waiting", "subagent_stop", "notification"]))
def test_any_text_renders_within_limits(reply: str, prompt: str, project: str, message: str,
                                        event: str) -> None:
    check(render.notification(payload(reply=reply, prompt=prompt, project=project,
                                      message=message, event=event)))


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=5000), state=st.sampled_from(["delivered", "failed", "uncertain"]))
def test_command_results_render(text: str, state: str) -> None:
    error = {"message": "x <y>", "steps": ["a & b", "c"]}
    check(render.command_result({"handle": "a:1", "state": state, "text": text, "error": error}))
