"""The real client's steps on the command's own message: a long Bash tool approved from
Telegram shows as "Bash: sleep 6; ..." while it runs, and the final message keeps the one-line
summary; locally and over SSH. (`sleep 6; echo done` alone needs no permission in 2.1.197: it
runs read-only commands without asking, so the command also touches a file.)"""

from __future__ import annotations

import pytest

from tests.messages_api import bash
from tests.real.conftest import Real
from tests.real.test_dialogs import offered, started, tap

pytestmark = [pytest.mark.e2e, pytest.mark.real]


def test_a_long_bash_step_shows_on_the_commands_message_before_it_ends(
        anywhere: Real) -> None:
    w = anywhere
    w.api.on("wait for it", bash("sleep 6; touch slept.txt; echo done", "Wait, then say done"))
    started(w, "steps")
    asked = offered(w, "wait for it", "Do you want to proceed?")
    assert "Chose 1. Yes" in tap(w, asked, "Yes")
    done = w.botapi.wait_for_message(lambda m: "wait for it" in m["text"]
                                     and "Done in" in m["text"], timeout=45)
    assert "The tool said: done" in done["text"]
    (card,) = [m for m in w.botapi.sent_messages() if m["message_id"] == done["message_id"]]
    before = card["edits"]  # what the message showed before its final text, in order
    running = [t for t in before if "▶ Bash: sleep 6; touch slept.txt; echo done" in t]
    assert running, "\n---\n".join(before)
    assert "Claude is" in running[-1] or "working" in running[-1], running[-1]
    assert "1 step: 1 Bash" in done["text"] and "▶" not in done["text"]
    command = next(c for c in w.world.hub.api("GET", "/api/commands").json()["commands"]
                   if c["text"] == "wait for it")
    got = w.world.hub.api("GET", f"/api/commands/{command['id']}").json()["command"]
    assert got["activity"]["summary"] == "1 step: 1 Bash"
