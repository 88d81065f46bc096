"""Adaptive submit against the stand-in agent that swallows early Enters.

Two stand-in agents (`python -m ccr.demo.agent`, no hooks) in two sessions of one private
tmux server, with paste windows (`--burst-ms`) of 15 ms (the default, like Claude Code) and
a larger one. Each dispatch is `Executor.send_text` on the control transport, locally and
over a private sshd on 127.0.0.1, with the Enter check OFF (`enter_check_ms = 0`), so a
swallowed Enter is not rescued and shows as lost. Ways to wait before the Enter:

* fixed: `submit = "fixed"`, `settle_ms` 300 (the default);
* output: `submit = "adaptive"`: the Enter goes once the pane's `%output` has been quiet for
  `adaptive_min_ms` and the typed text shows on the input line (ccr/remote/echo.py);
* polling: `submit = "adaptive"`, `adaptive_output = false`: the pane is polled every 2 ms,
  the Enter goes once the text shows and `adaptive_min_ms` passed since it was typed.

Latency is from just before `send_text` to the agent's own timestamp of the submitted
prompt (`prompts.jsonl`, `time.time()`). Lost: no prompt within settle + 1 s (the line is
then cleared with Ctrl-C). Merged: submitted, but not as typed. The two agents' series take
turns dispatch by dispatch, so the control client is switched between their sessions.
Run `python -m bench.adaptive --help`. `python -m bench.adaptive --real` measures the real
Claude Code instead (bench/real_gap.py): the smallest gap between text and Enter it needs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/adaptive.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dispatch import session_for, ssh_server
from bench.stats import Summary, table
from ccr.core.config import ExecutorSettings, LocalServer, SshServer
from ccr.remote.executor import Executor
from tests.fixtures.sshd import start_sshd
from tests.fixtures.tmux import Tmux


@dataclass
class Agent:
    burst_ms: float
    pane: str
    state: Path
    seen: int = 0
    """Prompts read from prompts.jsonl so far."""

    def new_prompts(self) -> list[dict[str, Any]]:
        path = self.state / "prompts.jsonl"
        if not path.exists():
            return []
        data = path.read_text()
        complete = data[:data.rfind("\n") + 1]  # a line being written is not read yet
        rows = [json.loads(x) for x in complete.splitlines() if x.strip()]
        fresh = rows[self.seen:]
        self.seen = len(rows)
        return fresh


@dataclass
class Series:
    where: str
    how: str
    agent: Agent
    executor: Executor
    session_server: str
    settle_s: float
    target: int
    samples_ms: list[float] = field(default_factory=list)
    lost: int = 0
    merged: int = 0
    errors: int = 0


def settings(how: str, quiet_ms: int) -> ExecutorSettings:
    common: dict[str, Any] = {"transport": "control", "enter_check_ms": 0, "settle_ms": 300}
    if how == "fixed":
        return ExecutorSettings(**common, submit="fixed")
    return ExecutorSettings(**common, submit="adaptive", adaptive_min_ms=quiet_ms,
                            adaptive_output=how.startswith("output"))


async def dispatch(s: Series, socket: str, n: int) -> None:
    text = f"prompt {n:05d} {s.how[:6]} {s.where[:3]}"
    session = session_for(s.session_server, s.agent.pane, socket)
    s.agent.new_prompts()
    started = time.time()
    try:
        await s.executor.send_text(session, text)
    except Exception:
        s.errors += 1
        return
    until = time.monotonic() + s.settle_s + 1.0
    while time.monotonic() < until:
        fresh = s.agent.new_prompts()
        if fresh:
            if fresh[0]["text"] == text and len(fresh) == 1:
                s.samples_ms.append((fresh[0]["at"] - started) * 1000)
            else:
                s.merged += 1
            break
        await asyncio.sleep(0.001)
    else:
        s.lost += 1
        await s.executor.press(session, ["C-c"])
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.03)  # the agent prints its answer


async def run(ns: argparse.Namespace, work: Path, tmux: Tmux,
              stack: contextlib.ExitStack) -> list[Series]:
    agents: list[tuple[Agent, int]] = []
    for burst, quiet in ((15.0, ns.quiet_ms), (float(ns.big_burst_ms), ns.big_quiet_ms)):
        state = work / f"agent-{burst:g}"
        pane = tmux.new_session(f"agent{burst:g}", [
            sys.executable, "-m", "ccr.demo.agent", "--state-dir", str(state),
            "--burst-ms", str(burst), "--no-greet"], width=160, height=40)
        agents.append((Agent(burst, pane, state), quiet))
    socket = tmux.socket_path
    servers: list[tuple[str, LocalServer | SshServer]] = [
        ("local", LocalServer(id="local", kind="local"))]
    if not ns.no_ssh:
        sshd = start_sshd(work / "sshd")
        stack.callback(sshd.stop)
        servers.append(("ssh", ssh_server("clean", sshd)))
    await asyncio.sleep(1.0)  # the agents draw their input lines
    series: list[Series] = []
    for where, server in servers:
        for agent, quiet in agents:
            for how, count in (("output", ns.count), ("polling", ns.count),
                               ("fixed", ns.fixed_count)):
                ex = Executor([server], settings(how, quiet))
                series.append(Series(where, f"{how} (quiet {quiet} ms)" if how != "fixed"
                                     else "fixed (settle 300 ms)", agent, ex, server.id,
                                     0.3, count))
    if ns.too_short_count:  # the quiet below the agent's window: Enters must be lost
        agent = agents[1][0]
        for where, server in servers:
            ex = Executor([server], settings("output", ns.quiet_ms))
            series.append(Series(where, f"output (quiet {ns.quiet_ms} ms < window)", agent,
                                 ex, server.id, 0.3, ns.too_short_count))
    try:
        for s in series:  # warm the control clients
            await dispatch(s, socket, 99999)
            s.lost = s.merged = s.errors = 0
            s.samples_ms.clear()
        rounds = max(s.target for s in series)
        for r in range(rounds):
            for s in series:
                if r * s.target // rounds != (r + 1) * s.target // rounds:
                    await dispatch(s, socket, r)
    finally:
        for s in series:
            with contextlib.suppress(Exception):
                await s.executor.close()
    return series


def report(series: list[Series]) -> str:
    rows = []
    for s in series:
        sm = Summary.of(s.samples_ms)
        done = len(s.samples_ms) + s.lost + s.merged + s.errors
        rows.append([s.where, f"{s.agent.burst_ms:g} ms", s.how, str(done),
                     *(f"{v:.1f}" for v in sm.figures()), str(s.lost), str(s.merged),
                     str(s.errors)])
    return table(["where", "agent window", "submit", "n", "p50", "p95", "p99", "max", "lost",
                  "merged", "failed"], rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--real" in args:
        from bench.real_gap import main as real_gap

        return real_gap([a for a in args if a != "--real"])
    p = argparse.ArgumentParser(prog="python -m bench.adaptive", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=200, help="adaptive dispatches per series")
    p.add_argument("--fixed-count", type=int, default=30, help="fixed-settle dispatches")
    p.add_argument("--quiet-ms", type=int, default=20, help="adaptive_min_ms for the 15 ms agent")
    p.add_argument("--big-burst-ms", type=int, default=50, help="the larger agent window")
    p.add_argument("--big-quiet-ms", type=int, default=60, help="adaptive_min_ms for it")
    p.add_argument("--too-short-count", type=int, default=20,
                   help="dispatches with the quiet below the larger window (0: none)")
    p.add_argument("--no-ssh", action="store_true", help="local only")
    p.add_argument("--real", action="store_true",
                   help="measure the real Claude Code instead (bench/real_gap.py; options "
                        "--count, --gaps)")
    ns = p.parse_args(args)
    print(f"adaptive submit · {os.cpu_count()} CPU(s) · load "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ccr-bench-adaptive-"))
    tmux = Tmux(socket_name=f"ccr-bench-{uuid.uuid4().hex[:8]}")
    series: list[Series] = []
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        stack.callback(tmux.kill_server)
        series = asyncio.run(run(ns, work, tmux, stack))
    print(report(series))
    print(f"\nwall time {time.monotonic() - started:.0f} s · load at the end "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
