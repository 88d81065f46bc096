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
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rig import Rig
from bench.stats import Summary
from tests.fixtures.hub import HubProcess

HEALTHY = ("alpha", "bravo", "charlie", "delta")
DOWN = "echo"


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
    with Rig(local=HEALTHY, ssh=(DOWN,), admins=False) as rig:
        rig.start_hub(settle_ms=20, enter_check_ms=60)
        rig.start_agents()
        hub, sshd = rig.hub, rig.sshd
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
