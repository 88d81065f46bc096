"""The hook against the real hub process: many runs at once, an outage, the order after it.

The hook command is the one `--print-settings` prints (what Claude Code runs), started as
real processes. What reached the hub is read from its database (`hook_events`, one row per
event id, in arrival order) and its /metrics (`hook_events_total{status="duplicate"}` counts
repeats the hub dropped).
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccr.hook import REQUEST_TIMEOUT_S
from tests.fixtures.hub import (
    HTTP,
    HubProcess,
    base_env,
    free_port,
    hook_env,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.e2e

N = 10


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    port = free_port()
    config = write_config(tmp_path / "ccr.toml", port=port, data_dir=tmp_path / "data",
                          servers=[{"id": "laptop", "kind": "local"}])
    hub = HubProcess(config=config, port=port, workdir=tmp_path, env=base_env())
    hub.start()
    yield hub
    hub.stop()


def hook_argv() -> list[str]:
    out = subprocess.run([sys.executable, "-m", "ccr.hook", "--print-settings"],
                         capture_output=True, check=True, timeout=30)
    return shlex.split(json.loads(out.stdout)["hooks"]["Stop"][0]["hooks"][0]["command"])


def stop(n: int) -> bytes:
    return json.dumps({"hook_event_name": "Stop", "session_id": f"claude-{n}",
                       "cwd": f"/w/p{n}", "last_assistant_message": f"reply {n}"}).encode()


def start_hooks(argv: list[str], env: dict[str, str], events: list[bytes]
                ) -> list[subprocess.Popen[bytes]]:
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env) for _ in events]
    for proc, event in zip(procs, events, strict=True):
        assert proc.stdin is not None
        proc.stdin.write(event)
        proc.stdin.close()
    return procs


def finished(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()  # EOF: the hook let go of its pipes
        assert proc.wait(timeout=10) == 0 and out == b"", err


def arrived(hub: HubProcess) -> list[tuple[str, float]]:
    """(event id, received at) of every event the hub took, in arrival order."""
    conn = sqlite3.connect(f"file:{hub.workdir / 'data' / 'ccr.db'}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT event_id, received_at FROM hook_events ORDER BY rowid"))
    finally:
        conn.close()


def duplicates(hub: HubProcess) -> float:
    text = HTTP.get(f"{hub.url}/metrics", timeout=10).text
    return sum(float(m.group(1)) for m in re.finditer(
        r'^ccr_hook_events_total\{[^}]*status="duplicate"[^}]*\} (\S+)$', text, re.M))


def spooled_ids(spool: Path) -> list[str]:
    return [json.loads(p.read_text())["event_id"] for p in sorted(spool.glob("*.json"))]


def test_ten_hooks_at_once_all_arrive_each_once(hub: HubProcess) -> None:
    env = hook_env(hub.url, "laptop", hub.workdir)
    argv = hook_argv()
    started = time.monotonic()
    procs = start_hooks(argv, env, [stop(n) for n in range(N)])
    finished(procs)
    returned = time.monotonic() - started
    wait_until(lambda: len(arrived(hub)) >= N, 10, message=f"{N} events at the hub")
    took = time.monotonic() - started
    print(f"{N} hooks at once: all returned in {returned:.2f} s, all arrived in {took:.2f} s")
    # how fast they arrive is measured by `python -m bench.hook --bursts`, not asserted here
    assert len(arrived(hub)) == N
    assert duplicates(hub) == 0  # nobody sent an event twice
    assert not list((hub.workdir / "spool-laptop").glob("*.json"))
    sessions = hub.api("GET", "/api/sessions").json()["sessions"]
    assert sorted(s["last_reply"] for s in sessions) == sorted(f"reply {n}" for n in range(N))


def test_after_an_outage_the_spool_goes_oldest_first_then_the_new_ones(
        hub: HubProcess) -> None:
    env = hook_env(hub.url, "laptop", hub.workdir)
    spool = hub.workdir / "spool-laptop"
    argv = hook_argv()
    hub.stop()
    for n in range(5):  # one after the other: the spool's order is the order they happened
        finished(start_hooks(argv, env, [stop(n)]))
    wait_until(lambda: len(spooled_ids(spool)) == 5, 5, message="5 events spooled")
    backlog = spooled_ids(spool)
    hub.start()
    # Then ten sessions stop at once: each run's child goes through the backlog, in order.
    procs = start_hooks(argv, env, [stop(n) for n in range(5, 5 + N)])
    finished(procs)
    wait_until(lambda: len(arrived(hub)) >= 5 + N, 15, message=f"{5 + N} events at the hub")
    ids = [event_id for event_id, _ in arrived(hub)]
    assert ids[:5] == backlog
    assert len(set(ids)) == 5 + N
    assert not list(spool.glob("*.json"))
    assert duplicates(hub) == 0


def test_a_hung_hub_does_not_hold_claude_and_the_event_waits_on_disk(tmp_path: Path) -> None:
    import socket

    with socket.socket() as srv:  # takes the connection, never answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        env = hook_env(f"http://127.0.0.1:{srv.getsockname()[1]}", "laptop", tmp_path)
        started = time.monotonic()
        finished(start_hooks(hook_argv(), env, [stop(1)]))
        took = time.monotonic() - started
        assert took < REQUEST_TIMEOUT_S, took  # not held to the request's deadline
        (path,) = (tmp_path / "spool-laptop").glob("*.json")
        assert json.loads(path.read_text())["last_reply"] == "reply 1"

