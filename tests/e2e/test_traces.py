"""Trace ids through the real hook and the real hub process: one trace per notification flow
and per command, kept in SQLite, shown by `ccr trace`, quoted in every error."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, World
from tests.fixtures.hub import API_TOKEN, SECRET, hook_env, run_hook, wait_until

pytestmark = pytest.mark.e2e

FLOW = ("hook", "ingest", "session.upsert", "outbox.enqueue", "outbox.deliver", "telegram.send")


def trace_with(world: World, ref: str, names: set[str]) -> dict[str, Any]:
    """The trace once every named span is stored (spans are written about once a second)."""
    def ready() -> dict[str, Any] | None:
        resp = world.hub.api("GET", f"/api/traces/{ref}")
        if resp.status_code != 200:
            return None
        t: dict[str, Any] = resp.json()["trace"]
        return t if names <= {s["name"] for s in t["spans"]} else None

    found: dict[str, Any] = wait_until(ready, 10, message=f"spans {sorted(names)} of {ref}")
    return found


def stored_spans(world: World) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{world.workdir / 'data' / 'ccr.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM spans"))
    finally:
        conn.close()


def assert_no_secrets_in_spans(world: World, *texts: str) -> None:
    rows = stored_spans(world)
    assert rows
    dump = json.dumps([dict(r) for r in rows])
    for forbidden in (*texts, SECRET, API_TOKEN, world.botapi.token):
        assert forbidden not in dump, f"{forbidden!r} leaked into a span"


def test_a_notification_is_one_trace_from_hook_to_telegram(world: World) -> None:
    reply = "the reply text must never reach a span"
    event = {"hook_event_name": "Stop", "session_id": "s-traced", "cwd": "/w/traced",
             "last_assistant_message": reply}
    # Refused first (wrong secret): the event stays spooled with its traceparent...
    assert run_hook(event, hook_env(world.hub.url, "laptop", world.workdir,
                                    CCR_SHARED_SECRET="wrong")).returncode == 0
    spooled = list((world.workdir / "spool-laptop").glob("*.json"))
    assert len(spooled) == 1
    header = json.loads(spooled[0].read_text())["traceparent"]
    version, trace_id, hook_span, flags = header.split("-")
    assert (version, flags) == ("00", "01")
    # ...and the re-sent event keeps that trace.
    flushed = subprocess.run([sys.executable, "-m", "ccr", "hook", "--flush"],
                             env=hook_env(world.hub.url, "laptop", world.workdir),
                             capture_output=True, timeout=30, check=False)
    assert flushed.returncode == 0 and b"sent 1" in flushed.stderr
    world.botapi.wait_for_message(lambda m: reply in m["text"])

    t = trace_with(world, trace_id[:12], set(FLOW))
    assert t["trace_id"] == trace_id and t["errors"] == 0
    by = {s["name"]: s for s in t["spans"]}
    assert by["hook"]["span_id"] == hook_span and by["hook"]["component"] == "hook"
    assert by["hook"]["server"] == "laptop"
    for child, parent in zip(FLOW[1:], FLOW[:-1], strict=True):
        want = hook_span if parent == "hook" else by[parent]["span_id"]
        assert by[child]["parent_id"] == want, f"{child} is not a child of {parent}"
    assert [by[n]["component"] for n in FLOW] == ["hook", "ingest", "store", "outbox",
                                                  "delivery", "telegram"]
    assert all(by[n]["status"] == "ok" for n in FLOW)
    offsets = [by[n]["offset_ms"] for n in FLOW]
    assert offsets == sorted(offsets), "the timeline runs hook -> ingest -> ... -> send"

    world.hub.env["COLUMNS"] = "200"
    shown = world.hub.ccr("trace", trace_id[:8])
    assert shown.returncode == 0, shown.stderr
    for name in FLOW:
        assert name in shown.stdout
    listed = world.hub.ccr("trace")
    assert listed.returncode == 0 and trace_id[:12] in listed.stdout
    assert_no_secrets_in_spans(world, reply, "/w/traced")


def test_a_failed_command_quotes_a_trace_that_ccr_trace_shows(world: World) -> None:
    pane, _ = world.start_agent("laptop", "doomed")
    world.notification_for("laptop:1")
    # Claude dies without a goodbye (no SessionEnd), so the hub still knows the session and
    # finds its pane gone when it types.
    os.kill(int(world.tmux.run("display-message", "-p", "-t", pane, "#{pane_pid}")), 9)
    wait_until(lambda: subprocess.run(["tmux", "-L", world.tmux.socket_name, "has-session",
                                       "-t", "doomed"], capture_output=True).returncode != 0,
               10, message="the pane to close")
    text = "this command text must never reach a span"
    world.botapi.push_text(CHAT, f"/cmd laptop:1 {text}")
    msg = world.botapi.wait_for_message(lambda m: "no longer exists" in m["text"])
    quoted = re.search(r"trace ([0-9a-f]{12})\b", msg["text"])
    assert quoted, msg["text"]
    short = quoted.group(1)

    t = trace_with(world, short, {"command", "breaker.check", "command.failed"})
    failed = [s for s in t["spans"] if s["status"] == "error"]
    assert any(s["name"].startswith("tmux ") and s["component"] == "tmux" for s in failed), \
        [(s["name"], s["status"]) for s in t["spans"]]
    assert next(s for s in t["spans"] if s["name"] == "command")["status"] == "error"
    assert {"command.pending", "command.dispatching", "command.failed"} <= {
        s["name"] for s in t["spans"]}
    commands = world.hub.api("GET", "/api/commands").json()["commands"]
    assert commands[0]["trace_id"].startswith(short)

    world.hub.env["COLUMNS"] = "200"
    shown = world.hub.ccr("trace", short)
    assert shown.returncode == 0, shown.stderr
    assert "breaker.check" in shown.stdout and "tmux send-keys" in shown.stdout
    assert "error" in shown.stdout

    # The CLI and the API quote the trace of their own failed command too.
    sent = world.hub.ccr("send", "laptop:1", text)
    assert sent.returncode == 1
    cli_trace = re.search(r"trace ([0-9a-f]{12})", sent.stderr)
    assert cli_trace and cli_trace.group(1) != short
    assert world.hub.ccr("trace", cli_trace.group(1)).returncode == 0
    resp = world.hub.api("POST", "/api/commands", json={"session": "laptop:1", "text": text})
    assert resp.status_code == 502
    error = resp.json()["error"]
    assert len(error["trace_id"]) == 32 and error["trace"] == f"trace {error['trace_id'][:12]}"
    missing = world.hub.ccr("trace", "0000ffff0000")
    assert missing.returncode == 1 and "no trace" in missing.stderr.lower()
    assert_no_secrets_in_spans(world, text)
