"""Claude's steps on the command's own Telegram message, through the real hook, hub and Bot
API stand-in: what Claude does now and its last steps while it works, one edit per 3 s at
most (counted, not timed), the summary on the final message, a redelivered event ignored."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, World, make_world
from tests.fixtures.hub import hook_env, run_hook, wait_until
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e

WINDOW_S = 3.0


def started(tmp_path: Path, botapi: Any, tmux: Tmux) -> World:
    w = make_world(tmp_path, botapi, tmux, None, sections={"commands": {"confirm_after_s": 5}})
    w.hub.start()
    return w


def history(msg: dict[str, Any]) -> list[str]:
    """Every text the message showed, first to last."""
    return [*msg["edits"], msg["text"]]


def card_of(w: World, text: str) -> dict[str, Any]:
    (msg,) = [m for m in w.botapi.sent_messages(CHAT) if text in m["text"]]
    return msg


def test_steps_show_while_claude_works_coalesced_and_the_summary_stays(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    try:
        _, state = w.start_agent("laptop", "steps", "--reply-delay", "6")
        w.notification_for("laptop:1")
        began = time.monotonic()
        w.botapi.push_text(CHAT, "/cmd laptop:1 /steps 30")
        w.botapi.wait_for_message(lambda m: "/steps 30" in m["text"])
        w.botapi.fail("editMessageText", 429, times=2, retry_after=1)  # waited out, as ever
        done = w.botapi.wait_for_message(
            lambda m: "/steps 30" in m["text"] and "Done in" in m["text"], timeout=60)
        took = time.monotonic() - began
        assert len([m for m in w.botapi.sent_messages(CHAT) if "/steps 30" in m["text"]]) == 1
        shown = history(card_of(w, "/steps 30"))
        live = [t for t in shown if "so far" in t]
        assert live, shown  # the steps showed before the final message
        assert shown.index(live[-1]) < shown.index(done["text"])
        assert any("✓ Read: README.md" in t for t in live), live
        assert any("✗ Bash: pytest -q (Exit code 1)" in t for t in live), live
        counts = [int(re.search(r"(\d+) steps? so far", t).group(1))  # type: ignore[union-attr]
                  for t in live]  # the first edit may show "1 step so far"
        assert counts == sorted(counts), live
        # 60 hook events, yet at most one activity edit per window (plus the first one).
        assert len(live) <= 2 + took / WINDOW_S, (len(live), took)
        assert "30 steps: 15 Bash, 8 Read, 7 Edit · 8 failed" in done["text"]
        assert "so far" not in done["text"] and "▶" not in done["text"]
        cid = w.hub.api("GET", "/api/commands").json()["commands"][0]["id"]
        got = w.hub.api("GET", f"/api/commands/{cid}").json()["command"]
        assert got["state"] == "completed"
        assert got["activity"]["summary"] == "30 steps: 15 Bash, 8 Read, 7 Edit · 8 failed"
        assert got["activity"]["recent"] == [] and got["activity"]["now"] == ""
        assert w.hub.api("GET", "/api/commands/nope").status_code == 404
        shown_cli = w.hub.ccr("history", "show", cid)
        assert shown_cli.returncode == 0, shown_cli.stderr
        assert "Claude's steps 30 steps: 15 Bash, 8 Read, 7 Edit · 8 failed" in shown_cli.stdout
        assert w.prompts(state) == ["/steps 30"]
        edits = w.botapi.calls_to("editMessageText")
        assert len(edits) >= len(shown) - 1 + 2, "the two 429s were met and retried"
    finally:
        w.hub.stop()


def test_a_redelivered_tool_event_has_no_second_effect(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    try:
        pane, state = w.start_agent("laptop", "again", "--permission-idle-s", "60")
        w.notification_for("laptop:1")
        w.botapi.push_text(CHAT, "/cmd laptop:1 /permission")
        w.wait_prompts(state, 1)
        w.tmux.wait_for_text(pane, "Do you want to proceed?")
        w.botapi.wait_for_message(lambda m: "/permission" in m["text"] and "✓✓" in m["text"])
        events = [json.loads(line) for line in
                  (state / "events.jsonl").read_text().splitlines()]
        asked = [e for e in events if e["hook_event_name"] == "PermissionRequest"][-1]
        # The real hook, fed Claude Code's PreToolUse, spools the event (hub not reachable),
        # then sends it; the same file sent again is a redelivery of the same event id.
        spool = tmp_path / "redeliver"
        env = hook_env("http://127.0.0.1:9", "laptop", tmp_path, CCR_SPOOL_DIR=str(spool),
                       TMUX=f"{w.tmux.socket_path},0,0", TMUX_PANE=pane)
        pre = {"hook_event_name": "PreToolUse", "session_id": asked["session_id"],
               "prompt_id": asked["prompt_id"], "cwd": str(tmp_path),
               "transcript_path": "/nope.jsonl", "tool_name": "Bash",
               "tool_input": {"command": "sleep 6; echo done"}, "tool_use_id": "toolu_x1"}
        proc = run_hook(pre, env)
        assert proc.returncode == 0 and proc.stdout == b""
        wait_until(lambda: len(list(spool.glob("*.json"))) == 1, 10, message="spooled")
        (spooled,) = spool.glob("*.json")
        copy = tmp_path / "copy.json"
        shutil.copy(spooled, copy)
        sender = {**env, "CCR_HUB_URL": w.hub.url}
        flushed = _flush(sender)
        assert "sent 1" in flushed, flushed
        running = w.botapi.wait_for_message(
            lambda m: "/permission" in m["text"] and "Bash: sleep 6; echo done" in m["text"])
        assert "▶ Bash: sleep 6; echo done" in running["text"]
        assert "1 step so far" in running["text"]
        shutil.copy(copy, spooled)  # the hook sends the same event again
        assert "sent 1" in _flush(sender)
        cid = w.hub.api("GET", "/api/commands").json()["commands"][0]["id"]
        activity = w.hub.api("GET", f"/api/commands/{cid}").json()["command"]["activity"]
        assert activity["steps"] == 1 and activity["now"] == "Bash: sleep 6; echo done"
        w.tmux.run("send-keys", "-t", pane, "1")
        done = w.botapi.wait_for_message(
            lambda m: "/permission" in m["text"] and "Done in" in m["text"], timeout=30)
        assert "1 step: 1 Bash" in done["text"]
        hub_log = w.hub.logs()
        assert "Traceback" not in hub_log
    finally:
        w.hub.stop()


def _flush(env: dict[str, str]) -> str:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ccr", "hook", "--flush"], env=env,
                          capture_output=True, timeout=60, check=False)
    return proc.stderr.decode()
