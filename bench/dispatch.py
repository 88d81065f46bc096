"""Dispatch latency: one short line typed into a tmux pane, then its Enter, with no settle.

Paths, interleaved dispatch by dispatch in one run, all into the same pane (`cat > /dev/null`
in a private tmux server), over a private sshd on 127.0.0.1 with a clean shell and a second one
whose shell start-up sleeps 0.1 s (a slow ~/.bashrc), and locally:

* ccr control: the Executor, `[executor] transport = "control"` (one `tmux -C` client on one
  held SSH channel, or a local `tmux -C` subprocess);
* ccr exec: the Executor, `transport = "exec"` (an asyncssh exec channel per tmux call from the
  pool's kept-open connection, or a `tmux` subprocess per call locally);
* ref ControlMaster: two `ssh` processes through a warm OpenSSH ControlMaster, each running
  `tmux send-keys` (the text with `-l`, then Enter);
* ref conn.run: two `conn.run("tmux send-keys ...")` on one warm asyncssh connection;
* ref tmux subprocess (local): two `tmux send-keys` subprocesses.

What is timed for ccr: `Executor.send_text(session, text)` with `settle_ms = 0` and
`enter_check_ms = 0`: the pane lock, `send-keys -H <hex>`, an `asyncio.sleep(0)` in place of
the settle, `send-keys Enter`; "its transport alone" is the same two tmux calls made on the
executor's ControlTransport directly (`.tmux(argv)`), without the executor around them. The
settle is measured on its own afterwards (`Executor._settle`, adaptive submit, control mode).
Run `python -m bench.dispatch --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

if __package__ in (None, ""):  # `python bench/dispatch.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rig import Interrupted, _raise_interrupted, clean_env
from bench.stats import Summary, ms, table
from ccr.core.config import ExecutorSettings, LocalServer, SshServer
from ccr.core.models import Session
from ccr.remote.executor import Executor
from tests.fixtures.sshd import Sshd, start_sshd
from tests.fixtures.tmux import Tmux

Dispatch = Callable[[str], Awaitable[None]]


@dataclass
class Series:
    """One path to one server."""

    where: str  # "local", "ssh clean", "ssh slow"
    via: str
    target: int
    """Recorded dispatches wanted."""
    run: Dispatch = field(repr=False)
    samples_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def label(self) -> str:
        return f"{self.where:<9}  {self.via}"


def session_for(server_id: str, pane: str, socket: str) -> Session:
    return Session(id=1, server_id=server_id, number=1, token="benchtok", pane_id=pane,
                   tmux_socket=socket, tmux_session="dispatch", claude_session_id=None,
                   project=None, last_event=None, last_prompt=None, last_reply=None,
                   created_at=0, updated_at=0, expires_at=1e12)


def ssh_server(server_id: str, sshd: Sshd) -> SshServer:
    return SshServer(id=server_id, kind="ssh", host=sshd.host, port=sshd.port, user=sshd.user,
                     identity=sshd.identity, known_hosts=sshd.known_hosts)


def executor(server: LocalServer | SshServer, transport: str, **extra: Any) -> Executor:
    fields: dict[str, Any] = {"settle_ms": 0, "enter_check_ms": 0, "transport": transport}
    settings = ExecutorSettings(**(fields | extra))
    return Executor([server], settings)


async def run_argv(argv: list[str], log: Path) -> None:
    """Run one process to its end. Its stderr goes to a file, not a pipe: a ControlPersist
    master forked by the first `ssh` would hold a pipe open for 60 s."""
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=err, env=clean_env())
        await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {tail(log)}")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-300:]


class World:
    """The pane, the sshds, the executors and the reference clients; closes all of them."""

    def __init__(self, workdir: Path, slow_s: float, with_slow: bool) -> None:
        self.workdir = workdir
        self.slow_s = slow_s
        self.with_slow = with_slow
        self.stack = contextlib.ExitStack()
        self.executors: list[Executor] = []
        self.conns: list[asyncssh.SSHClientConnection] = []
        self.sshds: dict[str, Sshd] = {}
        self.tmux = Tmux(socket_name=f"ccr-bench-{uuid.uuid4().hex[:8]}")
        self.pane = ""
        self.socket = ""
        self.skipped: list[str] = []
        self.log = workdir / "processes.log"

    def start(self) -> None:
        self.stack.callback(shutil.rmtree, self.workdir, True)
        self.stack.callback(self.tmux.kill_server)
        self.pane = self.tmux.new_session("dispatch", "cat > /dev/null", width=200, height=50)
        self.socket = self.tmux.socket_path
        self.sshds["ssh clean"] = start_sshd(self.workdir / "clean")
        self.stack.callback(self.sshds["ssh clean"].stop)
        if self.with_slow:
            try:
                sshd = start_sshd(self.workdir / "slow", slow_bashrc_seconds=self.slow_s)
            except BaseException as exc:  # pytest.skip: the login shell is not bash
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.skipped.append(f"ssh slow: {exc}")
            else:
                self.sshds["ssh slow"] = sshd
                self.stack.callback(sshd.stop)
        self.control_dir = Path(tempfile.mkdtemp(prefix="ccrd-", dir="/tmp"))  # short path
        self.stack.callback(shutil.rmtree, self.control_dir, True)

    async def aclose(self) -> None:
        for ex in self.executors:
            with contextlib.suppress(Exception):
                await ex.close()
        for conn in self.conns:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2)

    def close(self) -> None:
        self.stack.close()

    # -- the paths -----------------------------------------------------------------------

    def ccr(self, server: LocalServer | SshServer, transport: str) -> Dispatch:
        ex = executor(server, transport)
        self.executors.append(ex)
        session = session_for(server.id, self.pane, self.socket)

        async def run(text: str) -> None:
            await ex.send_text(session, text)
        return run

    def transport_only(self, server: LocalServer | SshServer) -> Dispatch:
        """The control transport's own `tmux()` twice: the executor (lock, span) left out."""
        ex = executor(server, "control")
        self.executors.append(ex)
        t = ex.transport(server.id)
        sock = ["-S", self.socket]

        async def run(text: str) -> None:
            await t.tmux([*sock, "send-keys", "-t", self.pane, "-l", "--", text])
            await t.tmux([*sock, "send-keys", "-t", self.pane, "Enter"])
        return run

    def tmux_argv(self, *args: str) -> list[str]:
        return ["tmux", "-S", self.socket, *args]

    def keys(self, text: str) -> tuple[list[str], list[str]]:
        return (self.tmux_argv("send-keys", "-t", self.pane, "-l", "--", text),
                self.tmux_argv("send-keys", "-t", self.pane, "Enter"))

    def ref_local(self) -> Dispatch:
        async def run(text: str) -> None:
            first, enter = self.keys(text)
            await run_argv(first, self.log)
            await run_argv(enter, self.log)
        return run

    def ref_control_master(self, where: str) -> Dispatch:
        sshd = self.sshds[where]
        path = self.control_dir / where.split()[-1]

        async def run(text: str) -> None:
            for argv in self.keys(text):
                await run_argv(sshd.ssh_argv(shlex.join(argv), control_path=path), self.log)
        return run

    async def ref_conn_run(self, where: str) -> Dispatch:
        sshd = self.sshds[where]
        conn = await asyncssh.connect(sshd.host, **sshd.connect_kwargs())
        self.conns.append(conn)

        async def run(text: str) -> None:
            for argv in self.keys(text):
                await conn.run(shlex.join(argv), check=True)
        return run


async def build(world: World, count: int, slow_count: int) -> list[Series]:
    local = LocalServer(id="local", kind="local")
    series = [Series("local", "ccr control (tmux -C)", count, world.ccr(local, "control")),
              Series("local", "  its transport alone", count, world.transport_only(local)),
              Series("local", "ccr exec (tmux subprocess)", count, world.ccr(local, "exec")),
              Series("local", "ref tmux subprocess x2", count, world.ref_local())]
    for where, sshd in world.sshds.items():
        server = ssh_server(where.split()[-1], sshd)
        slow = where == "ssh slow"
        per_call = slow_count if slow else count
        series += [
            Series(where, "ccr control (one SSH channel)", count, world.ccr(server, "control")),
            *([] if slow else [Series(where, "  its transport alone", count,
                                      world.transport_only(server))]),
            Series(where, "ccr exec (channel per call)", per_call, world.ccr(server, "exec")),
            Series(where, "ref ssh ControlMaster x2", per_call,
                   world.ref_control_master(where)),
            Series(where, "ref asyncssh conn.run x2", per_call, await world.ref_conn_run(where)),
        ]
    return series


async def interleave(series: list[Series], warmup: int) -> None:
    """Warm every path, then one dispatch per path per round, in a shuffled order; a path
    with fewer dispatches wanted is spread evenly over the rounds."""
    for s in series:
        for n in range(warmup):
            await s.run(f"warm {n:03d} {s.via[:8]}")
    rounds = max(s.target for s in series)
    rng = random.Random(7)
    for r in range(rounds):
        order = list(series)
        rng.shuffle(order)
        for s in order:
            if len(s.samples_ms) + s.errors >= s.target:
                continue
            if (r * s.target) // rounds == ((r + 1) * s.target) // rounds:
                continue  # not this path's round
            text = f"dispatch {r:05d} {s.via[:8]}"
            started = time.perf_counter()
            try:
                await s.run(text)
            except Exception:
                s.errors += 1
                continue
            s.samples_ms.append((time.perf_counter() - started) * 1000)


@dataclass
class SettleSeries:
    label: str
    samples_ms: list[float] = field(default_factory=list)


async def measure_settle(world: World, count: int) -> list[SettleSeries]:
    """Adaptive submit's wait (control mode): from the text's `send-keys` answer to the
    moment the executor would send the Enter (the text seen on the pane's input line)."""
    out: list[SettleSeries] = []
    targets: list[tuple[str, LocalServer | SshServer]] = [
        ("local", LocalServer(id="local", kind="local"))]
    if "ssh clean" in world.sshds:
        targets.append(("ssh clean", ssh_server("clean", world.sshds["ssh clean"])))
    for where, server in targets:
        for floor in (0, ExecutorSettings().adaptive_min_ms):
            ex = executor(server, "control", submit="adaptive", adaptive_min_ms=floor,
                          settle_ms=ExecutorSettings().settle_ms)
            world.executors.append(ex)
            t = ex.transport(server.id)
            sock = ["-S", world.socket]
            s = SettleSeries(f"{where:<9}  adaptive, adaptive_min_ms = {floor}")
            out.append(s)
            for n in range(count + 3):
                text = f"settle {n:04d} {floor}"
                await ex._call(t, [*sock, "send-keys", "-t", world.pane, "-l", "--", text])
                started = time.perf_counter()
                await ex._settle(t, sock, world.pane, text)
                took = (time.perf_counter() - started) * 1000
                await ex._call(t, [*sock, "send-keys", "-t", world.pane, "Enter"])
                if n >= 3:
                    s.samples_ms.append(took)
    return out


def report(series: list[Series], settles: list[SettleSeries], slow_s: float) -> str:
    header = ["path", "n", "p50", "p95", "p99", "max", "errors"]
    rows: list[list[str]] = []
    for s in series:
        sm = Summary.of(s.samples_ms)
        rows.append([s.label, str(sm.n), *(f"{v:.2f}" for v in sm.figures()), str(s.errors)])
    out = [f"dispatch = send-keys (text) + send-keys Enter, no settle · figures in ms · "
           f"'ssh slow' runs a {slow_s:g} s shell start-up per remote command", table(header, rows)]
    by = {(s.where, s.via.split(" (")[0]): Summary.of(s.samples_ms) for s in series}
    lines = []
    for where in ("ssh clean", "ssh slow"):
        ccr, cm = by.get((where, "ccr control")), by.get((where, "ref ssh ControlMaster x2"))
        if ccr and cm and ccr.n and cm.n:
            lines.append(f"{where}: ccr control p50 {ccr.p50:.2f} ms, p95 {ccr.p95:.2f} ms; "
                         f"ControlMaster / ccr control at p50 = {cm.p50 / ccr.p50:.0f}x, "
                         f"at p95 = {cm.p95 / ccr.p95:.0f}x")
    clean = by.get(("ssh clean", "ccr control"))
    if clean and clean.n:
        cm = by.get(("ssh clean", "ref ssh ControlMaster x2"))
        met = clean.p50 < 1 and clean.p95 < 2 and cm is not None and cm.p50 >= 10 * clean.p50
        lines.append("target (SSH loopback: p50 < 1 ms, p95 < 2 ms, >= 10x ControlMaster): "
                     + ("MET" if met else "NOT MET"))
    out.append("\n".join(lines))
    if settles:
        rows = []
        for st in settles:
            sm = Summary.of(st.samples_ms)
            rows.append([st.label, str(sm.n), *(ms(v) for v in sm.figures())])
        out.append(f"settle (not in the figures above): fixed submit waits settle_ms "
                   f"({ExecutorSettings().settle_ms} ms by default); adaptive submit, measured:")
        out.append(table(["settle", "n", "p50", "p95", "p99", "max"], rows))
    return "\n\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=300,
                   help="recorded dispatches per path (default 300)")
    p.add_argument("--slow-count", type=int, default=60,
                   help="recorded dispatches for the paths that start a shell per tmux call "
                        "on the slow server, ~0.2 s each (default 60; 300 adds ~2.5 min)")
    p.add_argument("--warmup", type=int, default=10, help="unrecorded dispatches per path first")
    p.add_argument("--slow-bashrc", type=float, default=0.1,
                   help="the slow server's shell start-up in seconds (default 0.1; 0: none)")
    p.add_argument("--settle-count", type=int, default=50,
                   help="adaptive settle samples per row (default 50; 0: skip)")
    p.add_argument("--json", type=Path, default=Path("bench/results/dispatch.json"),
                   help="raw samples (default bench/results/dispatch.json; '-' for none)")
    ns = p.parse_args(argv)
    if ns.count < 1 or ns.slow_count < 1 or ns.warmup < 0:
        p.error("--count and --slow-count must be >= 1, --warmup >= 0")
    return ns


async def amain(world: World, ns: argparse.Namespace, series: list[Series],
                settles: list[SettleSeries]) -> None:
    try:
        series += await build(world, ns.count, ns.slow_count)
        await interleave(series, ns.warmup)
        if ns.settle_count:
            settles += await measure_settle(world, ns.settle_count)
    finally:
        await world.aclose()


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"dispatch benchmark · {os.cpu_count()} CPU(s) · {ns.count} dispatches per path "
          f"({ns.slow_count} for per-call shells on the slow server) · load {load}", flush=True)
    started = time.monotonic()
    old = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    world = World(Path(tempfile.mkdtemp(prefix="ccr-bench-dispatch-")), ns.slow_bashrc,
                  ns.slow_bashrc > 0)
    series: list[Series] = []
    settles: list[SettleSeries] = []
    code = 0
    try:
        world.start()
        asyncio.run(amain(world, ns, series, settles))
    except KeyboardInterrupt as exc:
        code = 128 + (exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)
        print("\ninterrupted; everything started was stopped. Figures so far:", flush=True)
    except Exception:
        code = 1
        traceback.print_exc()
        print("failed; everything started was stopped. Figures so far:", flush=True)
    finally:
        ignore = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            world.close()
        finally:
            signal.signal(signal.SIGINT, ignore)
            for sig, handler in old.items():
                signal.signal(sig, handler)
    for note in world.skipped:
        print(f"skipped {note}")
    print(report(series, settles, ns.slow_bashrc))
    print(f"\nwall time {time.monotonic() - started:.0f} s · load average at the end "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    if ns.json is not None and str(ns.json) != "-" and series:
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"benchmark": "dispatch", "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "options": {k: str(v) for k, v in vars(ns).items()},
                   "series": [{"where": s.where, "via": s.via, "errors": s.errors,
                               "samples_ms": s.samples_ms} for s in series],
                   "settle": [{"label": s.label, "samples_ms": s.samples_ms} for s in settles]}
        ns.json.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"raw figures: {ns.json}")
    return code


if __name__ == "__main__":
    sys.exit(main())
