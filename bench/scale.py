"""Scale: 100 servers x 10 panes registered on one hub: memory, start-up time, dispatch p95.

The real hub process with 100 `local` servers in its ccr.toml, all pointing at one private
tmux server (`tmux -L NAME`) that holds 1,000 real panes (10 per server). Every pane is
registered through a signed `POST /notify` event, as a server's hook would. Ten panes, one
on every tenth server, run the stand-in agent; the rest run `sleep`. Telegram is off, so
the figures are the hub's own (no notification traffic).

Figures: start-up time to /healthz with 100 servers (an empty database, then a restart with
the 1,000 sessions), the hub's RSS and peak (/proc/<pid>/status) after registering and
after dispatching, registration throughput, and dispatch latency (request to "typed") to
the ten agent panes, beside the same typing done by two plain `tmux send-keys` calls in this
process (the reference, same panes, same settle time, same run). Every line sent is then
checked in the agents' prompts.jsonl. The session cache's size and hit rate come from
/metrics; its memory at this scale, with the largest texts a hook sends, is measured here
with tracemalloc on the hub's own cache class.

    python -m bench.scale [--servers 100] [--panes 10] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.load import TRICKY, cache_counts, proc_sample
from bench.rig import clean_env
from bench.stats import Summary, table
from ccr.core.models import Session
from ccr.services.cache import SessionCache
from tests.fixtures.hub import (
    API_TOKEN,
    HubProcess,
    base_env,
    free_port,
    signed_headers,
    write_config,
)
from tests.fixtures.tmux import Tmux

SETTLE_MS = 20
ENTER_CHECK_MS = 60
SAMPLE_EVERY = 10
"""One agent pane on every tenth server."""


def server_id(i: int) -> str:
    return f"srv-{i:03d}"


def make_panes(tmux: Tmux, servers: int, panes: int, work: Path) -> dict[str, list[str]]:
    """servers x panes real panes; the first pane of every SAMPLE_EVERY-th server runs an
    agent (its prompts in work/agent-<server>). Server id -> its pane ids."""
    out: dict[str, list[str]] = {}
    for i in range(servers):
        sid = server_id(i)
        sample = i % SAMPLE_EVERY == 0
        first: str | list[str] = "sleep 86400"
        if sample:
            state = work / f"agent-{sid}"
            first = [sys.executable, "-m", "ccr.demo.agent", "--hook", "cat >/dev/null",
                     "--state-dir", str(state), "--name", "scale"]
        ids = [tmux.new_session(sid, first, width=100, height=20, cwd=work)]
        args: list[str] = []
        for _ in range(panes - 1):
            args += ["new-window", "-d", "-t", sid, "-P", "-F", "#{pane_id}", "sleep 86400",
                     ";"]
        if args:
            ids += tmux.run(*args[:-1]).split()
        out[sid] = ids
    return out


async def register(url: str, tmux: Tmux, panes: dict[str, list[str]],
                   in_flight: int = 16) -> tuple[float, int]:
    """Every pane announced by a signed Stop event; (seconds, errors)."""
    gate = asyncio.Semaphore(in_flight)
    errors = 0

    async def one(client: httpx.AsyncClient, sid: str, k: int, pane: str) -> None:
        nonlocal errors
        body = json.dumps({
            "event_id": str(uuid.uuid4()), "server_id": sid, "hook_event_name": "Stop",
            "session_id": f"claude-{sid}-{k}", "cwd": f"/home/ana/project-{k}",
            "last_reply": f"Done with step {k}. " * 20,
            "tmux": {"pane_id": pane, "socket": tmux.socket_path, "session_name": sid},
        }).encode()
        headers = signed_headers(body)
        async with gate:
            resp = await client.post("/notify", content=body, headers=headers)
        if resp.status_code != 200:
            errors += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await asyncio.gather(*(one(client, sid, k, pane) for sid, ids in panes.items()
                               for k, pane in enumerate(ids)))
    return time.perf_counter() - started, errors


def dispatch(hub: HubProcess, handles: list[str], rounds: int) -> tuple[list[float], list[str]]:
    """One command at a time, round robin over the sample handles; latencies and texts."""
    out: list[float] = []
    texts: list[str] = []
    with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {API_TOKEN}"},
                      timeout=60) as client:
        for n in range(rounds * len(handles)):
            handle = handles[n % len(handles)]
            text = f"scale-{n:04d} {TRICKY}"
            started = time.perf_counter()
            resp = client.post("/api/commands", json={"session": handle, "text": text})
            out.append(time.perf_counter() - started)
            if resp.status_code != 200 or resp.json().get("error"):
                raise RuntimeError(f"{handle}: {resp.text[:300]}")
            texts.append(text)
    return out, texts


def reference(tmux: Tmux, panes: list[str], rounds: int) -> tuple[list[float], list[str]]:
    """Two plain `tmux send-keys` invocations per line (literal text, settle, Enter)."""
    out: list[float] = []
    texts: list[str] = []
    for n in range(rounds * len(panes)):
        pane = panes[n % len(panes)]
        text = f"ref-{n:04d} {TRICKY}"
        started = time.perf_counter()
        for args, pause in ((["send-keys", "-t", pane, "-l", "--", text], SETTLE_MS / 1000),
                            (["send-keys", "-t", pane, "Enter"], 0.0)):
            subprocess.run(tmux.argv(*args), check=True, env=clean_env(), timeout=10)
            time.sleep(pause)
        out.append(time.perf_counter() - started)
        texts.append(text)
        time.sleep(0.03)  # the agent's burst window: the next text is a new prompt
    return out, texts


def cache_memory(sessions: int, reply_chars: int) -> tuple[float, float]:
    """(MB measured by tracemalloc, MB the cache accounts) for `sessions` cached sessions
    with `reply_chars`-long replies and prompts, plus their handle/token/message keys."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        cache = SessionCache()
        for n in range(1, sessions + 1):
            s = Session(id=n, server_id=server_id(n // 10), number=n % 10 + 1,
                        token=f"t{n:07d}", pane_id=f"%{n}", tmux_socket="/tmp/tmux-0/x",
                        tmux_session=server_id(n // 10), claude_session_id=str(uuid.uuid4()),
                        project=f"/home/ana/project-{n}", last_event="stop",
                        last_prompt=("p" * reply_chars) + str(n),
                        last_reply=("r" * reply_chars) + str(n), created_at=0.0,
                        updated_at=0.0, expires_at=2e9)
            cache.put(s, SessionCache.message_key(4242, n), generation=cache.generation)
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return used / 2**20, cache.sessions.size / 2**20


def prompts_of(state: Path) -> list[str]:
    path = state / "prompts.jsonl"
    if not path.exists():
        return []
    return [str(json.loads(line)["text"])
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--panes", type=int, default=10, help="panes per server (10)")
    parser.add_argument("--rounds", type=int, default=20,
                        help="commands to each sample pane (20)")
    ns, _ = parser.parse_known_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ccr-bench-scale-"))
    tmux = Tmux(socket_name=f"ccr-scale-{uuid.uuid4().hex[:8]}")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        stack.callback(tmux.kill_server)
        started = time.perf_counter()
        panes = make_panes(tmux, ns.servers, ns.panes, work)
        made_s = time.perf_counter() - started
        port = free_port()
        servers: list[dict[str, Any]] = [
            {"id": server_id(i), "kind": "local", "tmux_socket": tmux.socket_name}
            for i in range(ns.servers)]
        config = write_config(work / "ccr.toml", port=port, data_dir=work / "data",
                              servers=servers,
                              executor={"settle_ms": SETTLE_MS, "enter_check_ms": ENTER_CHECK_MS})
        hub = HubProcess(config=config, port=port, workdir=work, env=base_env())
        stack.callback(hub.stop)
        t0 = time.perf_counter()
        hub.start(timeout=60)
        cold_start = time.perf_counter() - t0
        assert hub.proc is not None
        empty = proc_sample(hub.proc.pid)
        reg_s, reg_errors = asyncio.run(register(hub.url, tmux, panes))
        live = hub.api("GET", "/api/sessions").json()["sessions"]
        registered = proc_sample(hub.proc.pid)

        hub.stop()
        t0 = time.perf_counter()
        hub.start(timeout=60)
        warm_start = time.perf_counter() - t0
        restarted = proc_sample(hub.proc.pid)

        sample_ids = [server_id(i) for i in range(0, ns.servers, SAMPLE_EVERY)]
        by_pane = {s["pane"]: s["handle"] for s in live}
        handles = [by_pane[panes[sid][0]] for sid in sample_ids]
        time.sleep(1.0)  # the agents are up and reading
        hits0, misses0, _ = cache_counts(hub.url)
        lat, texts = dispatch(hub, handles, ns.rounds)
        hits1, misses1, entries = cache_counts(hub.url)
        after = proc_sample(hub.proc.pid)
        ref_lat, ref_texts = reference(tmux, [panes[sid][0] for sid in sample_ids], ns.rounds)
        time.sleep(1.0)

        sent = texts + ref_texts
        got: list[str] = []
        for sid in sample_ids:
            got += prompts_of(work / f"agent-{sid}")
        once = sum(1 for t in sent if got.count(t) == 1)
        stray = sum(1 for g in got if g not in set(sent))
        mem_mb, acct_mb = cache_memory(ns.servers * ns.panes, 16_000)
        mem_small, _ = cache_memory(ns.servers * ns.panes, 500)

        print(f"scale · {ns.servers} local servers x {ns.panes} panes = "
              f"{ns.servers * ns.panes} real panes (made in {made_s:.1f} s), "
              f"{len(live)} sessions registered by signed POST /notify in {reg_s:.1f} s "
              f"({(ns.servers * ns.panes) / reg_s:.0f}/s, {reg_errors} refused)")
        print(table(["hub", "start-up to /healthz s", "RSS MB", "peak MB"], [
            ["started, empty database", f"{cold_start:.2f}", f"{empty.rss_mb:.0f}",
             f"{empty.hwm_mb:.0f}"],
            [f"after registering {len(live)}", "-", f"{registered.rss_mb:.0f}",
             f"{registered.hwm_mb:.0f}"],
            [f"restarted with {len(live)} sessions", f"{warm_start:.2f}",
             f"{restarted.rss_mb:.0f}", f"{restarted.hwm_mb:.0f}"],
            [f"after {len(lat)} dispatches", "-", f"{after.rss_mb:.0f}", f"{after.hwm_mb:.0f}"],
        ]))
        print()
        s, r = Summary.of([v * 1000 for v in lat]), Summary.of([v * 1000 for v in ref_lat])
        print(f"dispatch to {len(handles)} sample panes (one per {SAMPLE_EVERY} servers), "
              f"one at a time, settle {SETTLE_MS} ms · ms")
        print(table(["path", "n", "p50", "p95", "p99", "max"], [
            ["ccr API -> typed (+Enter check "
             f"{ENTER_CHECK_MS} ms)", str(s.n), f"{s.p50:.1f}", f"{s.p95:.1f}", f"{s.p99:.1f}",
             f"{s.max:.1f}"],
            ["reference: 2 x tmux send-keys", str(r.n), f"{r.p50:.1f}", f"{r.p95:.1f}",
             f"{r.p99:.1f}", f"{r.max:.1f}"],
        ]))
        looked = (hits1 - hits0) + (misses1 - misses0)
        print(f"session cache: {entries:.0f} entries, hit rate during dispatch "
              f"{100 * (hits1 - hits0) / looked if looked else 0:.1f} % "
              f"({hits1 - hits0:.0f} of {looked:.0f})")
        print(f"session cache memory, {ns.servers * ns.panes} sessions, tracemalloc: "
              f"{mem_mb:.1f} MB with 16,000-char prompt and reply each (the hook's limit; "
              f"cache accounts {acct_mb:.1f} MB, bound 32 MB), {mem_small:.1f} MB with "
              "500-char ones")
        print(f"lines: {len(sent)} sent, {once} arrived exactly once and intact, "
              f"{stray} stray or garbled")
        return 0 if once == len(sent) and stray == 0 else 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
