"""Load: 20 concurrent commands over 5 servers, a sustained 50 commands/min, a burst of 1,000.

The real hub process (`python -m ccr serve`) with five servers: four `local` ones and one
`ssh` one (a private OpenSSH sshd on loopback), four stand-in agents per server (20 panes).
Commands go through the API (`POST /api/commands`, the path `ccr send` uses; it answers once
the text is typed). Three phases, one after the other:

- concurrent: rounds of 20 commands sent at once, one to each pane;
- sustained: 50 commands a minute, spread over the panes, for 2 minutes (10 with `--full`);
- burst: 1,000 commands sent as fast as the client can (at most 100 requests in flight).

Per phase: throughput, latency p50/p95/p99 (request to "typed"), the hub's CPU (from
/proc/<pid>/stat) and RSS (VmRSS and peak VmHWM from /proc/<pid>/status), and the session
cache's hit rate (from /metrics). At the end every line each agent recorded in its
prompts.jsonl is compared with what was sent to its pane: each exactly once, intact.

The reference in the same run: the same phase's figures at the same load are the ones to
compare over time; a plain `tmux send-keys` costs ~2 ms locally (see command_path).

    python -m bench.load [--full] [--minutes M] [--burst N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.rig import Rig
from bench.stats import Summary, table
from tests.fixtures.hub import API_TOKEN, HubProcess

LOCAL = ("alpha", "bravo", "charlie", "delta")
SSH = "echo"
PANES_PER_SERVER = 4
SETTLE_MS = 20
ENTER_CHECK_MS = 60
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TRICKY = "é ✓ 日本 $HOME `x` 'q' \"dq\" ; & | > < * ? \\ #"
"""Every line carries these: a byte the shell or tmux interpreted would show."""


# --- the hub process, seen from outside -----------------------------------------------------

@dataclass(frozen=True)
class ProcSample:
    cpu_s: float
    rss_mb: float
    hwm_mb: float
    at: float


def proc_sample(pid: int) -> ProcSample:
    """CPU seconds (user + system) from /proc/<pid>/stat, RSS and peak from status."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)[1]) / 1024  # type: ignore[index]
    hwm = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)[1]) / 1024  # type: ignore[index]
    return ProcSample(cpu, rss, hwm, time.perf_counter())


def cache_counts(url: str) -> tuple[float, float, float]:
    """(hits, misses, entries) of the session cache, from the hub's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text

    def value(name: str) -> float:
        m = re.search(rf'^{name}\{{cache="sessions"\}} (\S+)$', text, re.M)
        return float(m[1]) if m else 0.0

    return value("cache_hits_total"), value("cache_misses_total"), value("cache_entries")


# --- sending ----------------------------------------------------------------------------------

@dataclass
class Sent:
    handle: str
    text: str
    latency: float = 0.0
    error: str = ""


@dataclass
class Phase:
    name: str
    sent: list[Sent] = field(default_factory=list)
    wall: float = 0.0
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    hwm_mb: float = 0.0
    hits: float = 0.0
    misses: float = 0.0


class Sender:
    """Posts commands with one asyncio HTTP client; every text is unique and tricky."""

    def __init__(self, url: str, handles: list[str], in_flight: int) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=120,
            limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight))
        self.handles = handles
        self.gate = asyncio.Semaphore(in_flight)
        self.n = 0

    def next_text(self, phase: str) -> str:
        self.n += 1
        return f"{phase}-{self.n:05d}-{uuid.uuid4().hex[:6]} {TRICKY}"

    async def send(self, handle: str, phase: str) -> Sent:
        item = Sent(handle, self.next_text(phase))
        async with self.gate:
            started = time.perf_counter()
            try:
                resp = await self.client.post("/api/commands",
                                              json={"session": handle, "text": item.text})
                body = resp.json()
                if resp.status_code != 200 or body.get("error"):
                    item.error = f"{resp.status_code} {str(body)[:200]}"
            except (httpx.HTTPError, ValueError) as exc:
                item.error = f"{type(exc).__name__}: {exc}"
            item.latency = time.perf_counter() - started
        return item

    async def close(self) -> None:
        await self.client.aclose()


async def concurrent(sender: Sender, rounds: int) -> list[Sent]:
    out: list[Sent] = []
    for _ in range(rounds):
        out += await asyncio.gather(*(sender.send(h, "conc") for h in sender.handles))
    return out


async def sustained(sender: Sender, minutes: float, per_minute: float) -> list[Sent]:
    interval = 60.0 / per_minute
    total = round(minutes * per_minute)
    start = time.perf_counter()
    tasks = []
    for n in range(total):
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        handle = sender.handles[n % len(sender.handles)]
        tasks.append(asyncio.create_task(sender.send(handle, "sust")))
    return list(await asyncio.gather(*tasks))


async def burst(sender: Sender, count: int) -> list[Sent]:
    handles = sender.handles
    return list(await asyncio.gather(*(sender.send(handles[n % len(handles)], "burst")
                                       for n in range(count))))


def run_phase(name: str, hub: HubProcess, work: Any) -> Phase:
    """Run one phase (`work` is a coroutine factory), measuring the hub around it."""
    pid = hub.proc.pid if hub.proc else 0
    hits0, misses0, _ = cache_counts(hub.url)
    before = proc_sample(pid)
    sent = asyncio.run(work())
    after = proc_sample(pid)
    hits1, misses1, _ = cache_counts(hub.url)
    wall = after.at - before.at
    return Phase(name, sent, wall, after.cpu_s - before.cpu_s, after.rss_mb, after.hwm_mb,
                 hits1 - hits0, misses1 - misses0)


# --- checking what arrived ----------------------------------------------------------------

def check_delivery(states: dict[str, Path], phases: list[Phase],
                   timeout: float = 60.0) -> tuple[int, int, int, int]:
    """(expected, delivered once intact, lost, garbled-or-duplicated) over all panes."""
    expected: dict[str, list[str]] = {h: [] for h in states}
    for phase in phases:
        for s in phase.sent:
            if not s.error:
                expected[s.handle].append(s.text)
    want = sum(len(v) for v in expected.values())
    deadline = time.monotonic() + timeout
    while True:
        got = {h: _prompts(p) for h, p in states.items()}
        if sum(len(v) for v in got.values()) >= want or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    ok = lost = bad = 0
    for handle, texts in expected.items():
        seen: dict[str, int] = {}
        for line in got[handle]:
            seen[line] = seen.get(line, 0) + 1
        wanted = set(texts)
        for text in texts:
            n = seen.get(text, 0)
            if n == 1:
                ok += 1
            elif n == 0:
                lost += 1
            else:
                bad += 1
        bad += sum(n for line, n in seen.items() if line not in wanted)
    return want, ok, lost, bad


def _prompts(state: Path) -> list[str]:
    path = state / "prompts.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(str(json.loads(line)["text"]))
    return out


def report(phases: list[Phase], delivery: tuple[int, int, int, int], minutes: float) -> None:
    rows = []
    for p in phases:
        lat = [s.latency * 1000 for s in p.sent if not s.error]
        s = Summary.of(lat)
        errors = sum(1 for x in p.sent if x.error)
        looked = p.hits + p.misses
        rate = f"{100 * p.hits / looked:.1f}" if looked else "-"
        rows.append([p.name, str(len(p.sent)), str(errors), f"{len(lat) / p.wall:.1f}",
                     f"{s.p50:.0f}", f"{s.p95:.0f}", f"{s.p99:.0f}",
                     f"{100 * p.cpu_s / p.wall:.0f}", f"{p.rss_mb:.0f}", f"{p.hwm_mb:.0f}", rate])
    print(f"load · 5 servers (4 local + 1 ssh) x {PANES_PER_SERVER} panes · API commands "
          f"typed with settle {SETTLE_MS} ms + Enter check {ENTER_CHECK_MS} ms · "
          f"sustained for {minutes:g} min")
    print(table(["phase", "n", "errors", "cmd/s", "p50 ms", "p95 ms", "p99 ms", "hub CPU %",
                 "RSS MB", "peak MB", "cache hit %"], rows))
    hits = sum(p.hits for p in phases)
    looked = hits + sum(p.misses for p in phases)
    want, ok, lost, bad = delivery
    print(f"session cache hit rate over all phases: "
          f"{100 * hits / looked if looked else 0:.1f} % ({hits:.0f} of {looked:.0f} lookups)")
    print(f"lines: {want} accepted, {ok} arrived exactly once and intact, {lost} lost, "
          f"{bad} garbled or duplicated")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true",
                        help="sustained phase for 10 minutes (default 2)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="sustained phase length (overrides --full)")
    parser.add_argument("--rate", type=float, default=50.0, help="sustained commands/min (50)")
    parser.add_argument("--rounds", type=int, default=5, help="concurrent rounds of 20 (5)")
    parser.add_argument("--burst", type=int, default=1000, help="burst size (1000)")
    ns, _ = parser.parse_known_args(argv)
    minutes = ns.minutes if ns.minutes is not None else (10.0 if ns.full else 2.0)
    with Rig(local=LOCAL, ssh=(SSH,), panes_per_server=PANES_PER_SERVER, admins=False) as rig:
        rig.start_hub(SETTLE_MS, ENTER_CHECK_MS)
        rig.start_agents()
        hub = rig.hub
        states = {agent.handle: agent.state_dir for agent in rig.agents}
        handles = sorted(states)

        def phase(name: str, make: Any, in_flight: int) -> Phase:
            async def work_() -> list[Sent]:
                sender = Sender(hub.url, handles, in_flight)
                try:
                    return list(await make(sender))
                finally:
                    await sender.close()
            return run_phase(name, hub, work_)

        phases = [
            phase("concurrent 20", lambda s: concurrent(s, ns.rounds), 20),
            phase(f"sustained {ns.rate:g}/min", lambda s: sustained(s, minutes, ns.rate), 20),
            phase(f"burst {ns.burst}", lambda s: burst(s, ns.burst), 100),
        ]
        delivery = check_delivery(states, phases)
        report(phases, delivery, minutes)
        errors = [s for p in phases for s in p.sent if s.error][:3]
        for s in errors:
            print(f"  error: {s.handle}: {s.error}")
        return 0 if delivery[2] == 0 and delivery[3] == 0 else 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
