"""Claude's replies as Telegram HTML: every construct, and any text at all renders to a
message Telegram accepts (tests/botapi.parse_html), within 4096 UTF-16 units, with every
word kept up to a marked cut."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccr.core.redact import MASK, redact
from ccr.telegram import render, richtext
from ccr.telegram.richtext import (
    CUT_MARKER,
    LIMIT,
    clean,
    full_reply_parts,
    preview_html,
    reply_html,
    tokens,
    u16len,
)
from ccr.telegram.richtext import render as render_tokens
from tests.botapi import parse_html

WORD = re.compile(r"[^\W_]+")
FENCE_LINE = re.compile(r"^\s*(`{3,}|~{3,}).*$", re.M)
LINK_URL = re.compile(r"\]\(https?://[^\s)]*\)")


def shown(html: str) -> str:
    """The text Telegram shows; fails the test like Telegram's 400 would."""
    text = parse_html(html)
    assert u16len(html) <= LIMIT, f"raw HTML is {u16len(html)} units"
    assert u16len(text) <= LIMIT
    return text


def words(text: str) -> list[str]:
    return WORD.findall(text)


def expected_words(reply: str) -> list[str]:
    """The words a reader must find: the redacted reply minus fence lines (a fence's
    language goes into the code tag) and link targets (they go into href)."""
    return words(LINK_URL.sub("]", FENCE_LINE.sub("", clean(reply))))


def chars(ws: list[str]) -> str:
    return "".join(ws)


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(w == b for b in it) for w in small)


MARKDOWN = st.sampled_from(["```", "```python\n", "\n```\n", "~~~", "`", "**", "*", "_", "__",
                            "~~", "# ", "\n## ", "\n- ", "\n* ", "\n1. ", "\n> ", "[", "](",
                            "](https://example.com/x_y)", "(", ")", "<", ">", "&", "&amp;",
                            "<b>", "</pre>", "\n", "\n\n", " ", "a_b_c", " * ", "🎉", "👩‍💻",
                            "𝒳", "\x00", "\x1b[31m", "\r\n", "\t", "password=hunter2xyz"])
REPLY = st.one_of(
    st.text(max_size=6000),
    st.lists(st.one_of(MARKDOWN, st.text(max_size=30)), max_size=400).map("".join),
    st.lists(st.one_of(MARKDOWN, st.text("ab <&🎉\n", max_size=200)),
             max_size=120).map("".join).map(lambda s: s * 8),
)


# --- examples, one per construct -------------------------------------------------------------


def test_fenced_code_block_becomes_pre_with_language() -> None:
    html = reply_html("Run:\n```python\nif a < b and c & d:\n    pass\n```\nDone.", 4000).html
    assert '<pre><code class="language-python">if a &lt; b and c &amp; d:\n    pass' \
           "</code></pre>" in html
    assert shown(html).endswith("Done.")


def test_unterminated_fence_is_code_to_the_end() -> None:
    html = reply_html("look\n```\nx = 1\ny = 2", 4000).html
    assert html == "look\n<pre><code>x = 1\ny = 2</code></pre>"


def test_tilde_fence_and_odd_language_words() -> None:
    assert "<pre><code>" in reply_html("~~~ \"weird lang\"\nx\n~~~", 4000).html
    assert 'class="language-c++"' in reply_html("```c++\nint x;\n```", 4000).html


def test_inline_code_bold_italic_strike() -> None:
    html = reply_html("Use `a<b` with **care**, *really* or _truly_, ~~not~~ __this one__.",
                      4000).html
    assert html == ("Use <code>a&lt;b</code> with <b>care</b>, <i>really</i> or <i>truly</i>, "
                    "<s>not</s> <b>this one</b>.")


def test_snake_case_and_arithmetic_stay_text() -> None:
    text = "call my_var_name and __init__ ok; 2*3*4 and a * b * c; x_1 + y_2"
    html = reply_html(text, 4000).html
    assert "<i>" not in html and "<b>" not in html
    assert shown(html) == text


def test_headings_are_bold_lines_and_lists_use_bullets() -> None:
    html = reply_html("# Plan\n## Steps *now*\n- one\n  * two\n1. first\n2) second", 4000).html
    assert html == ("<b>Plan</b>\n<b>Steps <i>now</i></b>\n• one\n  • two\n1. first\n"
                    "2) second")


def test_links_only_for_http_urls() -> None:
    html = reply_html("[docs](https://ex.com/a?b=1&c='2') and [x](javascript:alert(1)) "
                      "and [f](file:///etc/passwd)", 4000).html
    assert '<a href="https://ex.com/a?b=1&amp;c=&#x27;2&#x27;">docs</a>' in html
    assert "javascript" in shown(html) and html.count("<a ") == 1


def test_blockquotes_group_consecutive_lines() -> None:
    html = reply_html("> one\n> **two**\nafter", 4000).html
    assert html == "<blockquote>one\n<b>two</b></blockquote>\nafter"
    flat = reply_html("> one", 4000, quotes=False).html
    assert "<blockquote>" not in flat and "one" in flat


def test_code_inside_bold_stays_text() -> None:
    # Telegram allows no code entity inside bold; the backticks stay visible instead.
    html = reply_html("**see `x`**", 4000).html
    assert html == "<b>see `x`</b>"


def test_everything_else_is_escaped() -> None:
    text = "<script>alert('x')</script> & &amp; <b>"
    assert shown(reply_html(text, 4000).html) == text


def test_secrets_are_masked_before_formatting() -> None:
    html = reply_html("```\nexport DB_PASSWORD=hunter2secret\n```\ntoken sk-" + "a" * 30,
                      4000).html
    assert "hunter2secret" not in html and "a" * 30 not in html and MASK in html


def test_control_characters_and_lone_surrogates_are_cleaned() -> None:
    html = reply_html("a\x00b\x1b[0m\r\nc\ud800d", 4000).html
    assert shown(html) == "ab[0m\nc?d"


def test_long_reply_is_cut_at_a_line_with_code_closed_and_a_marker() -> None:
    code = "\n".join(f"line_{i} = {i} & {i}" for i in range(400))
    reply = f"Here:\n```python\n{code}\n```\nThe end."
    cut = reply_html(reply, 600)
    assert cut.truncated
    text = shown(cut.html)
    assert u16len(text) <= 600 and text.endswith(CUT_MARKER)
    assert cut.html.count("<pre>") == cut.html.count("</pre>") == 1
    body = text.removesuffix(CUT_MARKER).rstrip()
    assert re.search(r"line_\d+ = \d+ & \d+$", body), body[-60:]  # a whole line


def test_cut_respects_raw_budget_with_many_entities() -> None:
    cut = reply_html("<&>" * 3000, 4000, raw_budget=1000)
    assert cut.truncated and u16len(cut.html) <= 1000
    shown(cut.html)


def test_already_truncated_reply_always_shows_the_marker() -> None:
    cut = reply_html("short", 4000, truncated=True)
    assert cut.truncated and shown(cut.html).endswith(CUT_MARKER)


def test_preview_is_a_trimmed_reply() -> None:
    preview = preview_html("**a** " * 500, 200)
    assert preview.truncated and u16len(shown(preview.html)) <= 200


def test_full_reply_parts_reopen_code_across_the_split() -> None:
    code = "\n".join(f"print({i})  # <{i}>" for i in range(1500))
    parts = full_reply_parts(f"Intro\n```python\n{code}\n```\nOutro")
    assert len(parts) > 2
    for part in parts:
        shown(part)
    assert all(p.count("<pre>") == p.count("</pre>") for p in parts)
    assert parts[1].startswith('<pre><code class="language-python">')
    joined = "\n".join(parse_html(p) for p in parts)
    assert all(f"print({i})  # <{i}>" in joined for i in range(1500))
    assert joined.startswith("Intro") and joined.endswith("Outro")


def test_full_reply_parts_split_one_endless_line() -> None:
    parts = full_reply_parts("x" * 10_000 + " " + "😀" * 3000)
    assert len(parts) >= 3
    assert "".join(parse_html(p) for p in parts).replace(" ", "") == "x" * 10_000 + "😀" * 3000


def test_empty_reply_has_one_part() -> None:
    assert [parse_html(p) for p in full_reply_parts("\n\n  \n")] == ["(Claude's reply is empty)"]


# --- properties ------------------------------------------------------------------------------

PROPS = settings(max_examples=250, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def whole(reply: str) -> str:
    """The uncut rendering's text (no limit applied): the reference for cuts and parts."""
    return parse_html(render_tokens(tokens(clean(reply))))


@PROPS
@given(reply=REPLY, budget=st.integers(min_value=60, max_value=LIMIT))
def test_any_reply_renders_to_a_message_telegram_accepts(reply: str, budget: int) -> None:
    rich = reply_html(reply, budget)
    text = shown(rich.html)
    assert u16len(text) <= budget
    full = whole(reply)
    assert is_subsequence(list(chars(expected_words(reply))), list(chars(words(full))))
    if not rich.truncated:
        assert text == full
    else:  # what is shown is the start of the reply, then the marker
        assert text.endswith("\n\n" + CUT_MARKER)
        assert full.startswith(text.removesuffix("\n\n" + CUT_MARKER))


@PROPS
@given(reply=REPLY)
def test_any_reply_splits_into_parts_telegram_accepts(reply: str) -> None:
    parts = full_reply_parts(reply)
    texts = [shown(p) for p in parts]
    assert all(t.strip() for t in texts)  # Telegram refuses empty messages
    if not whole(reply).strip():
        assert texts == ["(Claude's reply is empty)"]
        return
    # every word character of the reply, in order, across the parts
    assert chars(words("".join(texts))) == chars(words(whole(reply)))


@PROPS
@given(reply=REPLY)
def test_code_fences_come_out_as_pre(reply: str) -> None:
    html = reply_html("```sh\n" + reply.replace("```", "'''").replace("~~~", "'''"), LIMIT).html
    assert html.startswith('<pre><code class="language-sh">')
    shown(html)


def payload(**over: Any) -> dict[str, Any]:
    base = {"event": "stop", "handle": "kr4:1", "token": "abcd2345", "server": "kr4",
            "project": "/home/ana/shop", "answerable": True, "prompt": "run tests",
            "reply": "Tests pass.", "new_session": False}
    base.update(over)
    return base


@PROPS
@given(reply=REPLY, truncated=st.booleans(), prompt=st.text(max_size=500),
       message=st.text(max_size=800),
       event=st.sampled_from(["stop", "waiting", "subagent_stop", "notification"]))
def test_notification_with_any_rich_reply_is_accepted(reply: str, truncated: bool, prompt: str,
                                                      message: str, event: str) -> None:
    html = render.item_text("notification", payload(
        reply=reply, reply_truncated=truncated, prompt=prompt, message=message, event=event))
    text = shown(html)
    assert "Reply to this message" in text


def test_notification_shows_code_as_code() -> None:
    html = render.notification(payload(reply="Fixed:\n```diff\n- a < b\n+ a <= b\n```"))
    assert '<pre><code class="language-diff">- a &lt; b\n+ a &lt;= b</code></pre>' in html
    shown(html)


def test_notification_without_code_keeps_the_expandable_quote() -> None:
    html = render.notification(payload(reply="All **green**.\n> quoted"))
    assert "<blockquote expandable>All <b>green</b>.\n▍ quoted</blockquote>" in html
    shown(html)


def test_rollback_switch_gives_the_plain_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(richtext, "ENABLED", False)
    html = render.notification(payload(reply="**b** ```x```"))
    assert "<blockquote expandable>**b** ```x```</blockquote>" in html
    assert "<pre>" not in html and "<b>b</b>" not in html


def test_redaction_and_markup_do_not_fight() -> None:
    reply = "`password=hunter2abc` and **sk-" + "z" * 30 + "**"
    text = shown(reply_html(reply, 4000).html)
    assert "hunter2abc" not in text and "z" * 30 not in text
    assert redact(text) == text
