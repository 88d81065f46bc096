"""Another process holds the hub database's write lock for 2 s.

What the user sees: the notifications and the command's confirmation arrive about 2 s late,
each once; the command is typed once. The hub's log shows the waits with attempt numbers
(the database retry policy: 10 attempts, 5 s in all). Nothing is refused or lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CHAT
from tests.faults.helpers import fault_world, log_lines, wait_command
from tests.fixtures.hub import HTTP, prompts, signed_headers, wait_until
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e

HOLD_S = 2.0
NOTES = 5

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT OR IGNORE INTO hook_events (event_id, server_id, received_at) "
             "VALUES ('locker', 'laptop', 0)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


def post(url: str, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event).encode()
    return HTTP.post(f"{url}/notify", content=body, timeout=15, headers=signed_headers(body))


def test_a_held_write_lock_makes_operations_wait_not_fail(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    world = fault_world(tmp_path, botapi, tmux, None, settle_ms=30, enter_check_ms=60)
    hub = world.hub
    hub.start()
    try:
        pane, state = world.start_agent("laptop", "locked", "--hook", "true")
        sock = tmux.socket_path

        def event(n: int) -> dict[str, Any]:
            return {"event_id": f"db-lock-event-{n:03d}", "server_id": "laptop",
                    "hook_event_name": "Stop", "session_id": "lock-agent", "cwd": str(tmp_path),
                    "last_reply": f"lnote-{n} done", "tmux": {"pane_id": pane, "socket": sock}}

        assert post(hub.url, event(0)).json()["status"] == "accepted"
        world.notification_for("lnote-0")

        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(tmp_path / "data" / "ccr.db"), str(HOLD_S)],
            stdout=subprocess.PIPE, text=True)
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()

        answers: dict[int, int] = {}

        def send(n: int) -> None:
            answers[n] = post(hub.url, event(n)).status_code

        threads = [threading.Thread(target=send, args=(n,)) for n in range(1, NOTES + 1)]
        for th in threads:
            th.start()
        text = "typed once despite the lock"
        botapi.push_text(CHAT, f"/cmd laptop:1 {text}")
        for th in threads:
            th.join()
        waited = time.monotonic() - locked_at
        assert locker.wait(10) == 0

        command = wait_command(world, text, timeout=15)
        notes = wait_until(
            lambda: (found := [w for m in botapi.sent_messages(CHAT) for w in m["text"].split()
                               if w.startswith("lnote-")]) and len(found) >= NOTES + 1 and found,
            15, message="all notes at the stand-in")
        world.wait_prompts(state, 1)
        time.sleep(0.5)  # room for a late duplicate

        notes = [w for m in botapi.sent_messages(CHAT) for w in m["text"].split()
                 if w.startswith("lnote-")]
        waits = log_lines(world, "database write lock")
        typed = sum(p.count(text) for p in prompts(state))
        told = sum(text in m["text"] for m in botapi.sent_messages(CHAT))
        print(f"\nlock held {HOLD_S} s; posts answered after {waited:.2f} s: {answers}")
        print("kind          accepted delivered duplicated failed-visibly")
        print(f"notifications {NOTES:8} {len(set(notes) - {'lnote-0'}):9} "
              f"{len(notes) - len(set(notes)):10} {0:14}")
        print(f"commands      {1:8} {int(command['state'] == 'delivered'):9} "
              f"{max(0, typed - 1):10} {int(command['state'] != 'delivered'):14}")
        print("\n".join(waits))

        assert answers == {n: 200 for n in range(1, NOTES + 1)}, "every event accepted"
        assert waited >= HOLD_S * 0.8, "the posts waited for the lock"
        assert sorted(notes) == sorted(f"lnote-{n}" for n in range(NOTES + 1)), notes
        assert command["state"] == "executing", command
        assert typed == 1 and told == 1
        assert any("attempt" in line for line in waits), hub.logs()[-3000:]
    finally:
        hub.stop()
