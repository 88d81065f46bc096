"""Scale: 500 SSH servers x 10 panes on one hub: RSS, start-up, reconnecting after a restart,
dispatch p95 with 500 servers configured vs 1.

What is real and what is shared:

* **Servers: real.** One private OpenSSH sshd on 127.0.0.1 (as tests/fixtures/sshd.py starts
  it: own host and client keys, own config; MaxStartups raised to `--servers` + 100 so every
  connection of a start-up burst is let in). `--servers` entries in the hub's ccr.toml all
  point at it, each with its own id and its own `hooks_port`, and `hooks_via = "ssh"` (the
  default), so the hub opens one real SSH connection per entry (500 sshd connection
  processes) and one real remote port forward on each (500 listeners on 127.0.0.1). Nothing
  is simulated on the SSH side.
* **Panes: real, shared.** 500 x 10 = 5,000 panes do not fit: the kernel allows 4,096 ptys
  (`/proc/sys/kernel/pty/max`). So the run has `--tmux-servers` (50) private tmux servers
  (`tmux -L ccr-scale-<run>-gNN`) with `--panes` (10) real panes each, and server entry i
  uses tmux server i mod 50: every server entry has its own 10 sessions (5,000 sessions in
  the hub, registered by signed `POST /notify` as a hook would), but each real pane is shared
  by 10 entries. The hub's per-server work (list-panes for session recovery, probes, the
  control channel) is per entry and so really done 500 times; a list-panes answer is 10 panes,
  as on a real server.

Phases: start the hub with an empty database (time to /healthz, then until every connection
and every forward is up, by polling /metrics `ssh_connections_active` and
`ssh_hook_forward_up`), register the 5,000 sessions, stop it (SIGTERM) and start it again
(the same two times: "re-establish after a restart"), then dispatch. The hub's RSS and peak
come from /proc/<pid>/status after each phase.

Dispatch: tmux server 0's 10 panes run the stand-in agent. A second hub process with **one**
server configured (`srv-000`, the same sshd, its own data dir, port and hooks_port) runs beside
the 500-server hub. One command at a time through `POST /api/commands` (it answers once the
text is typed and its Enter checked), taking turns in a shuffled order per pane: the
500-server hub to pane k through server entry `srv-{50k}` (ten servers, ten connections),
the one-server hub to pane k through `srv-000`, and the reference, two plain `tmux send-keys`
(literal text, the same settle, Enter) from this process. Every line sent is then checked
in the agents' prompts.jsonl. Telegram is off (no notification traffic).

Every run has its own work directory, HOME for the hubs, ports, sshd, tmux sockets; all is
stopped and removed on exit, error, Ctrl-C, SIGTERM or SIGHUP (`--keep` leaves the work
directory).

    python -m bench.scale [--servers 500] [--panes 10] [--rounds 20] [--tmux-servers 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.load import TRICKY, ProcSample, cache_counts, proc_sample
from bench.rig import Interrupted, _raise_interrupted, clean_env
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
from tests.fixtures.sshd import Sshd, start_sshd
from tests.fixtures.tmux import Tmux

ROOT = Path(__file__).resolve().parents[1]
SETTLE_MS = 20
ENTER_CHECK_MS = 60
GAP_S = 0.03
"""Between commands: the agent's burst window (15 ms), so the next text is a new prompt."""


def server_id(i: int) -> str:
    return f"srv-{i:03d}"


def hooks_ports(n: int) -> list[int]:
    """n distinct ports free on 127.0.0.1 now (held together while picked, so no repeats)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def start_big_sshd(work: Path, connections: int) -> Sshd:
    """The fixture's sshd, restarted with room for `connections` connections at once."""
    sshd = start_sshd(work / "sshd")
    try:
        text = sshd.config.read_text()
        text = re.sub(r"^MaxStartups .*$", f"MaxStartups {connections + 100}", text, flags=re.M)
        text = re.sub(r"^MaxSessions .*$", "MaxSessions 100", text, flags=re.M)
        sshd.config.write_text(text)
        sshd.restart()
    except BaseException:
        sshd.stop()
        raise
    return sshd


def make_panes(tmuxes: list[Tmux], panes: int, work: Path) -> list[tuple[str, list[str]]]:
    """Per tmux server: (socket path, its pane ids); tmux server 0's panes run agents (their
    prompts in work/agent-<k>), the rest `sleep`."""
    out: list[tuple[str, list[str]]] = []
    for g, tmux in enumerate(tmuxes):
        ids: list[str] = []
        for k in range(panes):
            cmd: str | list[str] = "sleep 86400"
            if g == 0:
                cmd = [sys.executable, "-m", "ccr.demo.agent", "--hook", "cat >/dev/null",
                       "--state-dir", str(work / f"agent-{k}"), "--name", "scale"]
            if k == 0:
                ids.append(tmux.new_session("s", cmd, width=100, height=20, cwd=work,
                                            env={"PYTHONPATH": str(ROOT)}))
            else:
                argv = ["new-window", "-d", "-t", "s:", "-P", "-F", "#{pane_id}", "-c",
                        str(work), "-e", f"PYTHONPATH={ROOT}"]
                argv += [cmd] if isinstance(cmd, str) else ["--", *cmd]
                ids.append(tmux.run(*argv).strip())
        out.append((tmux.socket_path, ids))
    return out


def ssh_server(sshd: Sshd, i: int, hooks_port: int) -> dict[str, Any]:
    return {"id": server_id(i), "kind": "ssh", "host": sshd.host, "port": sshd.port,
            "user": sshd.user, "identity": sshd.identity, "known_hosts": sshd.known_hosts,
            "hooks_via": "ssh", "hooks_port": hooks_port}


def hub_config(path: Path, port: int, data: Path, servers: list[dict[str, Any]]) -> Path:
    # Every forward pins one connection, so the pool's global cap (100 by default) must hold
    # one per server: a hub with 500 SSH servers needs `[pool] max_total` >= 500.
    return write_config(path, port=port, data_dir=data, servers=servers,
                        executor={"settle_ms": SETTLE_MS, "enter_check_ms": ENTER_CHECK_MS},
                        sections={"pool": {"max_total": max(100, 2 * len(servers))}})


_GAUGE = re.compile(r'^(ssh_connections_active|ssh_hook_forward_up)\{server="([^"]*)"\} (\S+)$',
                    re.M)


def links_up(url: str) -> tuple[int, int]:
    """(servers with a live connection, forwards up) from the hub's /metrics."""
    conns = forwards = 0
    text = httpx.get(f"{url}/metrics", timeout=30).text
    for name, _server, value in _GAUGE.findall(text):
        if float(value) >= 1:
            if name == "ssh_connections_active":
                conns += 1
            else:
                forwards += 1
    return conns, forwards


def listening(ports: set[int]) -> set[int]:
    """Which of these ports something LISTENs on at 127.0.0.1 (read from /proc/net/tcp, so
    watching the forwards costs the hub nothing: a /metrics scrape with 500 servers does)."""
    found: set[int] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        addr, _, port = fields[1].partition(":")
        if fields[3] == "0A" and addr == "0100007F" and int(port, 16) in ports:
            found.add(int(port, 16))
    return found


@dataclass
class Start:
    """One hub start: seconds from the process start to /healthz, to every connection up,
    to every forward up (None: not within the timeout), and the hub's memory then."""

    ready_s: float
    conns_s: float | None
    forwards_s: float | None
    mem: ProcSample


def ssh_links(pid: int, sshd_port: int) -> int:
    """The hub's established TCP connections to the sshd (its SSH connections), from
    /proc/<pid>/fd and /proc/net/tcp: no request to the hub."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = fd.readlink().as_posix()
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[3] == "01" and int(fields[2].partition(":")[2], 16) == sshd_port
                and fields[9] in inodes):
            n += 1
    return n


def start_and_link(hub: HubProcess, servers: int, ports: set[int], sshd_port: int,
                   timeout: float) -> Start:
    """Start the hub; time /healthz, then every SSH connection (the hub's established TCP
    connections to the sshd) and every forward (its hooks_port listening), both read from
    /proc every 50 ms (a /metrics scrape with 500 servers would load the hub meanwhile);
    then one /metrics read confirms both from the hub's side."""
    t0 = time.perf_counter()
    hub.start(timeout=60)
    ready = time.perf_counter() - t0
    assert hub.proc is not None
    conns_s = forwards_s = None
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and (conns_s is None or forwards_s is None):
        now = time.perf_counter() - t0
        if conns_s is None and ssh_links(hub.proc.pid, sshd_port) >= servers:
            conns_s = now
        if forwards_s is None and len(listening(ports)) >= len(ports):
            forwards_s = now
        time.sleep(0.05)
    t1 = time.perf_counter()
    conns, forwards = links_up(hub.url)
    print(f"  /metrics then: {conns} of {servers} servers with a live connection, {forwards} "
          f"forwards up (the scrape took {time.perf_counter() - t1:.2f} s)", flush=True)
    return Start(ready, conns_s, forwards_s, proc_sample(hub.proc.pid))


async def register(url: str, sessions: list[tuple[str, int, str, str]],
                   in_flight: int = 16) -> tuple[float, int]:
    """Every (server, k, socket, pane) announced by a signed Stop event; (seconds, errors)."""
    gate = asyncio.Semaphore(in_flight)
    errors = 0

    async def one(client: httpx.AsyncClient, sid: str, k: int, sock: str, pane: str) -> None:
        nonlocal errors
        body = json.dumps({
            "event_id": str(uuid.uuid4()), "server_id": sid, "hook_event_name": "Stop",
            "session_id": f"claude-{sid}-{k}", "cwd": f"/home/ana/project-{k}",
            "last_reply": f"Done with step {k}. " * 20,
            "tmux": {"pane_id": pane, "socket": sock, "session_name": "s"},
        }).encode()
        async with gate:
            resp = await client.post("/notify", content=body, headers=signed_headers(body))
        if resp.status_code != 200:
            errors += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await asyncio.gather(*(one(client, *s) for s in sessions))
    return time.perf_counter() - started, errors


def handles_of(hub: HubProcess) -> dict[tuple[str, str], str]:
    """(server, pane) -> session handle."""
    return {(s["server"], s["pane"]): s["handle"]
            for s in hub.api("GET", "/api/sessions").json()["sessions"]}


def ccr_dispatch(client: httpx.Client, handle: str, text: str) -> float:
    started = time.perf_counter()
    resp = client.post("/api/commands", json={"session": handle, "text": text})
    took = time.perf_counter() - started
    if resp.status_code != 200 or resp.json().get("error"):
        raise RuntimeError(f"{handle}: {resp.text[:300]}")
    return took


def ref_dispatch(tmux: Tmux, pane: str, text: str) -> float:
    """Two plain `tmux send-keys` invocations (literal text, settle, Enter)."""
    started = time.perf_counter()
    for args, pause in ((["send-keys", "-t", pane, "-l", "--", text], SETTLE_MS / 1000),
                        (["send-keys", "-t", pane, "Enter"], 0.0)):
        subprocess.run(tmux.argv(*args), check=True, env=clean_env(), timeout=10)
        time.sleep(pause)
    return time.perf_counter() - started


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


def secs(v: float | None) -> str:
    return "not within timeout" if v is None else f"{v:.2f}"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(ns: argparse.Namespace, work: Path, stack: contextlib.ExitStack,
        say: Callable[[str], None]) -> int:
    n, per, groups = ns.servers, ns.panes, min(ns.tmux_servers, ns.servers)
    tag = uuid.uuid4().hex[:8]
    home = work / "home"
    home.mkdir()
    env = base_env(HOME=str(home))

    t0 = time.perf_counter()
    sshd = start_big_sshd(work, n + 1)
    stack.callback(sshd.stop)
    tmuxes = [Tmux(socket_name=f"ccr-scale-{tag}-g{g:02d}") for g in range(groups)]
    for tmux in tmuxes:
        stack.callback(tmux.kill_server)
    panes = make_panes(tmuxes, per, work)
    say(f"sshd on {sshd.host}:{sshd.port}, {groups} tmux servers x {per} panes made in "
        f"{time.perf_counter() - t0:.1f} s; load average {load_average()}")

    ports = hooks_ports(n + 1)
    port = free_port()
    big = HubProcess(config=hub_config(work / "ccr.toml", port, work / "data",
                                       [ssh_server(sshd, i, ports[i]) for i in range(n)]),
                     port=port, workdir=work / "hub500", env=env)
    big.workdir.mkdir()
    stack.callback(big.stop)

    cold = start_and_link(big, n, set(ports[:n]), sshd.port, ns.link_timeout)
    say(f"cold start: /healthz {cold.ready_s:.2f} s, all {n} connections "
        f"{secs(cold.conns_s)} s, all forwards {secs(cold.forwards_s)} s, RSS "
        f"{cold.mem.rss_mb:.0f} MB")

    sessions = [(server_id(i), k, panes[i % groups][0], pane)
                for i in range(n) for k, pane in enumerate(panes[i % groups][1])]
    reg_s, reg_errors = asyncio.run(register(big.url, sessions))
    assert big.proc is not None
    registered = proc_sample(big.proc.pid)
    say(f"registered {len(sessions)} sessions in {reg_s:.1f} s ({reg_errors} refused)")

    t0 = time.perf_counter()
    big.stop()
    stop_s = time.perf_counter() - t0
    warm = start_and_link(big, n, set(ports[:n]), sshd.port, ns.link_timeout)
    say(f"restart: stop {stop_s:.2f} s, /healthz {warm.ready_s:.2f} s, all connections "
        f"{secs(warm.conns_s)} s, all forwards {secs(warm.forwards_s)} s")
    time.sleep(2.0)  # the first probe and recovery rounds after start are over
    settled = proc_sample(big.proc.pid)

    port1 = free_port()
    one = HubProcess(config=hub_config(work / "ccr-one.toml", port1, work / "data-one",
                                       [ssh_server(sshd, 0, ports[n])]),
                     port=port1, workdir=work / "hub1", env=env)
    one.workdir.mkdir()
    stack.callback(one.stop)
    one_start = start_and_link(one, 1, {ports[n]}, sshd.port, ns.link_timeout)
    asyncio.run(register(one.url, [s for s in sessions if s[0] == server_id(0)]))

    agent_panes = panes[0][1]
    big_handles, one_handles = handles_of(big), handles_of(one)
    on_group0 = list(range(0, n, groups))  # server entries 0, 50, 100, ... use tmux server 0
    big_targets = [big_handles[(server_id(on_group0[k % len(on_group0)]), pane)]
                   for k, pane in enumerate(agent_panes)]
    one_targets = [one_handles[(server_id(0), pane)] for pane in agent_panes]
    time.sleep(1.0)  # the agents are up and reading

    lat: dict[str, list[float]] = {"big": [], "one": [], "ref": []}
    sent: list[str] = []
    hits0, misses0, _ = cache_counts(big.url)
    rng = random.Random(7)
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=big.url, headers=auth, timeout=60) as cb, \
            httpx.Client(base_url=one.url, headers=auth, timeout=60) as c1:
        paths: dict[str, Callable[[int, str], float]] = {
            "big": lambda k, t: ccr_dispatch(cb, big_targets[k], t),
            "one": lambda k, t: ccr_dispatch(c1, one_targets[k], t),
            "ref": lambda k, t: ref_dispatch(tmuxes[0], agent_panes[k], t),
        }
        for r in range(ns.rounds + 1):  # round 0 warms up (control channels), unrecorded
            for k in range(len(agent_panes)):
                order = list(paths)
                rng.shuffle(order)
                for name in order:
                    text = f"{name}-{r:03d}-{k} {TRICKY}"
                    took = paths[name](k, text)
                    sent.append(text)
                    if r:
                        lat[name].append(took)
                    time.sleep(GAP_S)
    hits1, misses1, entries = cache_counts(big.url)
    after = proc_sample(big.proc.pid)
    assert one.proc is not None
    one_mem = proc_sample(one.proc.pid)
    time.sleep(1.0)

    got: list[str] = []
    for k in range(len(agent_panes)):
        got += prompts_of(work / f"agent-{k}")
    once = sum(1 for t in sent if got.count(t) == 1)
    stray = sum(1 for g in got if g not in set(sent))
    mem_mb, acct_mb = cache_memory(len(sessions), 16_000)

    print()
    print(f"scale · {n} SSH servers (real connections to one private sshd, hooks_via = ssh: "
          f"{n} real remote forwards) x {per} panes = {len(sessions)} sessions on "
          f"{groups * per} real panes ({groups} tmux servers; pty limit) · load average "
          f"{load_average()}")
    print(table(["hub with " + str(n) + " servers", "/healthz s", "all conns s",
                 "all forwards s", "RSS MB", "peak MB"], [
        ["cold start, empty database", f"{cold.ready_s:.2f}", secs(cold.conns_s),
         secs(cold.forwards_s), f"{cold.mem.rss_mb:.0f}", f"{cold.mem.hwm_mb:.0f}"],
        [f"after registering {len(sessions)} ({reg_s:.1f} s, {reg_errors} refused)", "-",
         "-", "-", f"{registered.rss_mb:.0f}", f"{registered.hwm_mb:.0f}"],
        [f"restart (stop took {stop_s:.2f} s)", f"{warm.ready_s:.2f}", secs(warm.conns_s),
         secs(warm.forwards_s), f"{settled.rss_mb:.0f}", f"{settled.hwm_mb:.0f}"],
        [f"after {len(lat['big'])} dispatches", "-", "-", "-", f"{after.rss_mb:.0f}",
         f"{after.hwm_mb:.0f}"],
        ["(the 1-server hub, after its dispatches)", f"{one_start.ready_s:.2f}",
         secs(one_start.conns_s), secs(one_start.forwards_s), f"{one_mem.rss_mb:.0f}",
         f"{one_mem.hwm_mb:.0f}"],
    ]))
    print()
    sums = {k: Summary.of([v * 1000 for v in vs]) for k, vs in lat.items()}
    print(f"dispatch to {len(agent_panes)} agent panes, one command at a time, paths in "
          f"shuffled turns, settle {SETTLE_MS} ms · ms")
    names = {"big": f"ccr, {n} servers configured (API -> typed + Enter check "
                    f"{ENTER_CHECK_MS} ms)",
             "one": "ccr, 1 server configured (same)",
             "ref": "reference: 2 x tmux send-keys"}
    print(table(["path", "n", "p50", "p95", "p99", "max"], [
        [names[k], str(s.n), f"{s.p50:.1f}", f"{s.p95:.1f}", f"{s.p99:.1f}", f"{s.max:.1f}"]
        for k, s in sums.items()]))
    ratio = sums["big"].p95 / sums["one"].p95 if sums["one"].p95 else float("nan")
    print(f"p95 {n} servers / 1 server: {100 * ratio:.1f} %")
    looked = (hits1 - hits0) + (misses1 - misses0)
    print(f"session cache: {entries:.0f} entries, hit rate during dispatch "
          f"{100 * (hits1 - hits0) / looked if looked else 0:.1f} %; memory at "
          f"{len(sessions)} sessions with 16,000-char texts (tracemalloc) {mem_mb:.1f} MB "
          f"(accounted {acct_mb:.1f} MB)")
    print(f"lines: {len(sent)} sent, {once} arrived exactly once and intact, "
          f"{stray} stray or garbled")
    peak = max(cold.mem.hwm_mb, registered.hwm_mb, settled.hwm_mb, after.hwm_mb)
    goals = [("RSS < 300 MB", f"peak {peak:.0f} MB", peak < 300),
             ("start-up < 5 s", f"{max(cold.ready_s, warm.ready_s):.2f} s",
              max(cold.ready_s, warm.ready_s) < 5),
             ("dispatch p95 within 10 % of 1 server", f"{100 * ratio:.1f} %", ratio <= 1.10)]
    for goal, figure, ok in goals:
        print(f"goal {goal}: {figure} {'met' if ok else 'MISSED'}")
    return 0 if once == len(sent) and stray == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--panes", type=int, default=10, help="panes per server (10)")
    parser.add_argument("--tmux-servers", type=int, default=50,
                        help="real tmux servers the server entries share (50)")
    parser.add_argument("--rounds", type=int, default=20,
                        help="commands to each agent pane per path (20)")
    parser.add_argument("--link-timeout", type=float, default=120.0,
                        help="give up waiting for every connection and forward after (s)")
    parser.add_argument("--keep", action="store_true", help="leave the work directory")
    ns, _ = parser.parse_known_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ccr-bench-scale-"))
    olds = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM,
                                                                    signal.SIGHUP)}
    stack = contextlib.ExitStack()
    try:
        if not ns.keep:
            stack.callback(shutil.rmtree, work, True)
        return run(ns, work, stack, lambda line: print(line, flush=True))
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"interrupted ({exc}); tearing down", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop teardown
        try:
            stack.close()
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for sig, old in olds.items():
                signal.signal(sig, old)


if __name__ == "__main__":
    sys.exit(main())
