"""One of five servers down: are commands to the other four slowed?

Five servers on one hub process: four `local` ones and one `ssh` one (a private sshd on
loopback). Commands go through the API (`POST /api/commands`, the path `ccr send` uses; it
answers once the text is typed) round-robin to the four healthy sessions, one at a time,
while another thread keeps sending commands to the fifth. Measured twice in one run: with
the fifth server up, then with its sshd killed (its commands fail, are retried while they
provably never reached tmux, then refused by its open breaker).

    python -m bench.one_down [--count 80]
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import Summary
from tests.botapi import BotApiStandIn
from tests.fixtures.hub import HubProcess, agent_argv, base_env, free_port, hook_env, write_config
from tests.fixtures.sshd import start_sshd
from tests.fixtures.tmux import Tmux

CHAT = 4242
HEALTHY = ("alpha", "bravo", "charlie", "delta")
DOWN = "echo"


def greeting_only(state: Path) -> list[str]:
    """The stand-in agent whose hook runs for its greeting only: a Python start-up per
    prompt would load the 2 cores and blur what the hub itself does."""
    mark = shlex.quote(str(state / "greeted"))
    hook = (f"if [ -e {mark} ]; then exec cat >/dev/null; fi; : > {mark}; "
            f"exec {shlex.quote(sys.executable)} -m ccr hook")
    argv = agent_argv(state)
    argv[argv.index("--hook") + 1] = hook
    return argv


def measure(hub: HubProcess, count: int, stop_background: threading.Event,
            background: list[float]) -> list[float]:
    """Latency of `count` commands to the healthy sessions, with the fifth server busy."""

    def hammer() -> None:
        n = 0
        while not stop_background.is_set():
            started = time.perf_counter()
            with contextlib.suppress(Exception):
                hub.api("POST", "/api/commands", json={"session": f"{DOWN}:1",
                                                       "text": f"bg {n}"})
            background.append(time.perf_counter() - started)
            n += 1

    thread = threading.Thread(target=hammer, daemon=True)
    thread.start()
    out: list[float] = []
    try:
        for n in range(count):
            handle = f"{HEALTHY[n % len(HEALTHY)]}:1"
            started = time.perf_counter()
            resp = hub.api("POST", "/api/commands", json={"session": handle, "text": f"m {n}"})
            out.append(time.perf_counter() - started)
            if resp.status_code != 200 or resp.json().get("error"):
                raise RuntimeError(f"{handle}: {resp.text}")
    finally:
        stop_background.set()
        thread.join(30)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.one_down", description=__doc__)
    parser.add_argument("--count", type=int, default=80, help="commands per phase (80)")
    ns = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ccr-bench-down-"))
    tmux = Tmux(socket_name=f"ccr-bench-{uuid.uuid4().hex[:8]}")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        api = stack.enter_context(BotApiStandIn())
        sshd = start_sshd(work / "sshd")
        stack.callback(sshd.stop)
        stack.callback(tmux.kill_server)
        port = free_port()
        servers: list[dict[str, Any]] = [{"id": s, "kind": "local"} for s in HEALTHY]
        servers.append({"id": DOWN, "kind": "ssh", "host": sshd.host, "port": sshd.port,
                        "user": sshd.user, "identity": sshd.identity,
                        "known_hosts": sshd.known_hosts})
        config = write_config(work / "ccr.toml", port=port, data_dir=work / "data",
                              servers=servers,
                              telegram={"base_url": api.base_url, "allowed_chats": [CHAT]},
                              executor={"settle_ms": 20, "enter_check_ms": 60})
        hub = HubProcess(config=config, port=port, workdir=work,
                         env=base_env(CCR_TELEGRAM_TOKEN=api.token))
        stack.callback(hub.stop)
        hub.start(timeout=30)
        for server in (*HEALTHY, DOWN):
            env = hook_env(hub.url, server, work)
            tmux.new_session(server, greeting_only(work / f"agent-{server}"), env=env, cwd=work)
            api.wait_for_message(lambda m, s=server: f"{s}:1" in m["text"], timeout=30)

        results: dict[str, tuple[list[float], list[float]]] = {}
        for phase in ("all five up", "echo down"):
            if phase == "echo down":
                sshd.kill()
                for pid in sshd.connection_pids():
                    sshd.drop_connection(pid)
            background: list[float] = []
            results[phase] = (measure(hub, ns.count, threading.Event(), background), background)

        print(f"one server of five down · {ns.count} commands per phase to the 4 healthy "
              "servers, one at a time, settle 20 ms · figures in ms")
        print(f"{'phase':<14} {'n':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}   "
              "commands to echo meanwhile (n, p50)")
        for phase, (lat, bg) in results.items():
            s = Summary.of([v * 1000 for v in lat])
            b = Summary.of([v * 1000 for v in bg]) if bg else None
            extra = f"{b.n:>4}, {b.p50:8.1f}" if b else "   0"
            print(f"{phase:<14} {s.n:>4} {s.p50:7.1f} {s.p95:7.1f} {s.p99:7.1f} {s.max:7.1f}"
                  f"   {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
