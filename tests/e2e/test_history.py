"""History as a user meets it: /history in Telegram (filters, paging in place, Re-run
buttons) and `ccr history` on the command line, on the real hub and the Bot API stand-in."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, World
from tests.fixtures.hub import wait_until

pytestmark = pytest.mark.e2e


def buttons(msg: dict[str, Any]) -> list[tuple[str, str]]:
    rows = msg.get("reply_markup", {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def history_reply(world: World, after: int) -> dict[str, Any]:
    return dict(world.botapi.wait_for_message(
        lambda m: m["message_id"] > after and m["text"].startswith("🕘")))


def last_id(world: World) -> int:
    sent = world.botapi.sent_messages(CHAT)
    return max((m["message_id"] for m in sent), default=0)


def test_history_lists_filters_and_pages_in_place(world: World) -> None:
    pane2, _ = world.start_agent("laptop", "doomed")
    world.notification_for("laptop:1")
    _, state = world.start_agent("laptop", "shop")
    world.notification_for("laptop:2")
    world.tmux.run("kill-pane", "-t", pane2)  # laptop:1's pane is gone: its command fails
    world.botapi.push_text(CHAT, "/cmd laptop:1 never arrives")
    wait_until(lambda: world.hub.api("GET", "/api/history", params={"q": "state:failed"})
               .json()["total"] == 1, 20, message="the failed command")
    texts = [f"task number {n}" for n in range(1, 12)]
    for n, text in enumerate(texts, 1):
        world.botapi.push_text(CHAT, f"/cmd laptop:2 {text}")
        world.wait_prompts(state, n)

    mark = last_id(world)
    world.botapi.push_text(CHAT, "/history")
    first = history_reply(world, mark)
    text = first["text"]
    assert "1–10 of 12, newest first" in text
    assert text.index("task number 11") < text.index("task number 10")  # newest first
    assert "never arrives" not in text  # the oldest is on the next page
    data = [d for _, d in buttons(first)]
    reruns = [d for d in data if d.startswith("r:")]
    assert len(reruns) == 10 and all(re.fullmatch(r"r:c[0-9a-f]{10}", d) for d in reruns)
    listed = world.hub.api("GET", "/api/history", params={"limit": 10}).json()["commands"]
    assert reruns == [f"r:{c['id']}" for c in listed]
    older = next(d for label, d in buttons(first) if label == "Older ›")

    world.botapi.push_callback(CHAT, first["message_id"], older)
    wait_until(lambda: "11–12 of 12" in _message(world, first["message_id"])["text"], 15,
               message="the older page in the same message")
    page2 = _message(world, first["message_id"])
    assert "never arrives" in page2["text"] and "❌" in page2["text"]
    assert "task number 1\n" in page2["text"] + "\n"
    assert [label for label, _ in buttons(page2)][-1] == "‹ Newer"
    lists = [m for m in world.botapi.sent_messages(CHAT) if m["text"].startswith("🕘")]
    assert len(lists) == 1, "paging edits the message, it sends no new one"

    newer = dict(buttons(page2))["‹ Newer"]
    world.botapi.push_callback(CHAT, first["message_id"], newer)
    wait_until(lambda: "1–10 of 12" in _message(world, first["message_id"])["text"], 15,
               message="back to the newest page")

    world.botapi.push_text(CHAT, "/history state:failed")
    failed = history_reply(world, first["message_id"])
    assert "1–1 of 1" in failed["text"] and "never arrives" in failed["text"]
    assert "🔎 state:failed" in failed["text"]

    for forged in ("hi:abc:", "hi:99999999:", "hi:0:state:bogus", "hi:0:~"):
        world.botapi.push_callback(CHAT, 424242, forged)
    wait_until(lambda: sum("not valid" in a.get("text", "")
                           for a in world.botapi.callback_answers) >= 4, 15,
               message="forged paging data answered as not valid")
    assert "Traceback" not in world.hub.logs()

    world.botapi.push_text(CHAT, "/history state:nonsense")
    bad = world.botapi.wait_for_message(lambda m: "history filter is not valid" in m["text"])
    assert "nonsense" in bad["text"]

    long_filter = "laptop " + " ".join(f"word{n}" for n in range(12))
    world.botapi.push_text(CHAT, f"/history {long_filter}")
    empty = world.botapi.wait_for_message(
        lambda m: m["text"].startswith("🕘") and "word11" in m["text"])
    assert "no command matches" in empty["text"]

    # The CLI against the same hub.
    cli = world.hub.ccr("history", "laptop:2", "task", "--limit", "3")
    assert cli.returncode == 0, cli.stderr
    assert "1–3 of 11" in cli.stdout and "task number 11" in cli.stdout
    assert cli.stdout.index("task number 11") < cli.stdout.index("task number 10")
    as_json = json.loads(world.hub.ccr("history", "state:failed", "--json").stdout)
    assert [c["text"] for c in as_json["commands"]] == ["never arrives"]
    show = world.hub.ccr("history", "show", as_json["commands"][0]["id"])
    assert show.returncode == 0, show.stderr
    assert "Transitions" in show.stdout and "pending" in show.stdout and "failed" in show.stdout
    missing = world.hub.ccr("history", "show", "cdeadbeef00")
    assert missing.returncode == 1 and "There is no command 'cdeadbeef00'" in missing.stderr
    bad_cli = world.hub.ccr("history", "is:whatever")
    assert bad_cli.returncode == 1 and "history filter is not valid" in bad_cli.stderr


def _message(world: World, message_id: int) -> dict[str, Any]:
    return next(m for m in world.botapi.sent_messages(CHAT) if m["message_id"] == message_id)
