"""The core loop on the real Claude Code: its real Stop reaches Telegram naming the session,
and what the person sends arrives at the API as exactly the prompt they wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import CHAT
from tests.messages_api import text
from tests.real.conftest import Real

pytestmark = [pytest.mark.e2e, pytest.mark.real]


def test_a_real_stop_is_notified_and_a_cmd_confirmed_by_user_prompt_submit(
        anywhere: Real) -> None:
    w = anywhere
    claude = w.claude("shop")
    claude.type("what does the build do?")  # at the keyboard: ccr learns of the session
    note = w.world.notification_for(w.handle(), timeout=30)
    assert "Claude finished" in note["text"] and claude.project.name in note["text"]
    assert "You said: what does the build do?" in note["text"]
    assert w.prompts(claude) == ["what does the build do?"]

    w.api.on("write the summary", text("Summary written.", delay=2.5))
    w.botapi.push_text(CHAT, f"/cmd {w.handle()} write the summary")
    received = w.botapi.wait_for_message(
        lambda m: "write the summary" in m["text"] and "Claude received it" in m["text"],
        timeout=20)
    done = w.botapi.wait_for_message(
        lambda m: "write the summary" in m["text"] and "Done in" in m["text"], timeout=20)
    assert done["message_id"] == received["message_id"], "one message, edited in place"
    assert "Summary written." in done["text"]
    command = w.world.hub.api("GET", "/api/commands").json()["commands"][0]
    assert command["state"] == "completed" and command["received_at"]
    assert w.prompts(claude) == ["what does the build do?", "write the summary"]


LONG = " ".join(f"step {n}: check the {n}th module, fix what fails, and note why;"
                for n in range(1, 40))[:900]
MULTI = "Three things:\n- run the tests\n  - then the linters\n\nand report back"


def test_long_multiline_and_hostile_texts_arrive_as_one_exact_prompt_each(
        anywhere: Real, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("still here")
    hostile = [
        "C-c", "Enter",
        f"$(rm -rf {victim}) `rm -rf {victim}` '; rm -rf {victim}; ' \"quoted\" "
        f"back\\slash \\n ; #{{pane_id}} -t %0 -l C-c Enter äöü 日本 🎉",
        "a path that ends in a backslash C:\\temp\\",
    ]
    texts = [LONG, MULTI, *hostile]
    assert len(LONG) == 900
    claude = anywhere.claude("texts")
    claude.type("hi")
    note = anywhere.world.notification_for(anywhere.handle(), timeout=30)
    for n, sent in enumerate(texts, 2):
        seen = {m["message_id"] for m in anywhere.botapi.sent_messages()}
        anywhere.botapi.push_text(CHAT, f"/cmd {anywhere.handle()} {sent}")
        anywhere.wait_prompts(claude, n)
        anywhere.botapi.wait_for_message(
            lambda m, seen=seen: m["message_id"] not in seen and "Done in" in m["text"],
            timeout=30)
    # A reply to the notification is typed the same way.
    anywhere.botapi.push_text(CHAT, "and a reply", reply_to_message_id=note["message_id"])
    anywhere.wait_prompts(claude, len(texts) + 2)
    assert anywhere.prompts(claude) == ["hi", *texts, "and a reply"]
    assert (victim / "keep").read_text() == "still here", "a text was run by a shell"
