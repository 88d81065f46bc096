"""What a hook run costs Claude: the printed hook command vs a bare Python start.

Claude Code runs the command `ccr hook --print-settings` prints for every hook event and
waits for it (for UserPromptSubmit, before the prompt is sent). This measures that wait: the
wall time from starting the process to its exit with its stdout and stderr closed (what
Claude waits for; a detached child that kept a pipe open would show here), beside
`python -c pass` with the same interpreter, fed the same JSON on stdin. Runs are
interleaved: every round runs every (hub, event, command) once, in a shuffled order.

- hub up: the real hub process (`python -m ccr serve`, no Telegram), as in the tests;
  hub down: a closed port on 127.0.0.1 (refused at once).
- events: UserPromptSubmit, Stop and PreToolUse as Claude Code 2.1.197 sends them (Stop
  with a 1.5 kB last_assistant_message; PreToolUse a Bash call, the most frequent event: one
  per tool call, which the hub shows on the command's live message); no TMUX_PANE, so the
  child does not ask tmux.
- commands: `python -c pass` (the yardstick), `python -S -c pass` (the floor: no site),
  the printed command, and, for comparison, `python /path/to/hook.py` (the form for a
  server with only hook.py copied) and `python -m ccr hook` (through the package, with
  site).
- between runs the benchmark lets the run's detached child finish (hub up: until its
  event left the spool, which is also timed; hub down: 100 ms), so one run's child does
  not slow the next sample; in real use it runs beside Claude.
- then bursts (`--bursts`, 5): ten Stop events from ten printed hook commands started at
  once (ten sessions stopping together), timed until all ten returned and until the hub's
  database holds all ten (`hook_events`, one row per event id).

    python -m bench.hook [--rounds 30] [--bursts 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/hook.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile, table
from tests.fixtures.hub import ROOT, SECRET, HubProcess, base_env, free_port, write_config

EVENTS = ("UserPromptSubmit", "Stop", "PreToolUse")
HUBS = ("up", "down")
BASELINE = "python -c pass"
FLOOR = "python -S -c pass"
PRINTED = "printed hook command"
SCRIPT = "python hook.py"
MODULE = "python -m ccr hook"
TARGET = 1.5
REPLY = ("I ran the tests: 2 failed in test_cart.py. The discount was applied twice when a "
         "coupon and a sale price met, so I changed apply_discount() to take the lower of the "
         "two instead of stacking them, and added a test for that case. ") * 6


def payload(event: str, work: Path) -> bytes:
    base: dict[str, Any] = {
        "session_id": "3f0c9a1e-7b7e-4b1e-9a43-2c0f8e1d5a10",
        "transcript_path": str(work / "transcript.jsonl"), "cwd": str(work),
        "permission_mode": "default", "hook_event_name": event,
        "prompt_id": "0b5f6a8e-1d2c-4e3f-8a9b-7c6d5e4f3a2b",
    }
    if event == "UserPromptSubmit":
        base["prompt"] = "run the tests and fix what fails, then tell me what you changed"
    elif event == "PreToolUse":
        base.update(tool_name="Bash", tool_use_id="toolu_01ABCDEFGHJKLMNPQRSTUVWX",
                    tool_input={"command": "python -m pytest -q tests/test_cart.py",
                                "description": "Run the cart tests", "timeout": 120000})
    else:
        base.update(stop_hook_active=False, last_assistant_message=REPLY, background_tasks=[])
    return json.dumps(base).encode()


def printed_command() -> str:
    out = subprocess.run([sys.executable, "-m", "ccr.hook", "--print-settings"],
                         capture_output=True, check=True, timeout=30, cwd=ROOT)
    command: str = json.loads(out.stdout)["hooks"]["Stop"][0]["hooks"][0]["command"]
    return command


def commands(printed: str) -> dict[str, list[str]]:
    py = sys.executable
    return {BASELINE: [py, "-c", "pass"], FLOOR: [py, "-S", "-c", "pass"],
            PRINTED: shlex.split(printed), SCRIPT: [py, str(ROOT / "ccr" / "hook.py")],
            MODULE: [py, "-m", "ccr", "hook"]}


def run_once(argv: list[str], stdin: bytes, env: dict[str, str], cwd: Path) -> float:
    """Seconds until the process exited and closed its stdout and stderr."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd)
    out, err = proc.communicate(stdin, timeout=30)
    took = time.perf_counter() - started
    if proc.returncode != 0 or out:
        raise RuntimeError(f"{argv}: rc={proc.returncode} stdout={out!r} stderr={err!r}")
    return took


def spool_empty(spool: Path, timeout: float) -> float | None:
    """Seconds until no event is left in *spool*, or None at the timeout."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if not any(spool.glob("*.json")):
            return time.perf_counter() - started
        time.sleep(0.001)
    return None


def at_hub(data_dir: Path) -> int:
    conn = sqlite3.connect(f"file:{data_dir / 'ccr.db'}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM hook_events").fetchone()[0])
    finally:
        conn.close()


def burst(argv: list[str], env: dict[str, str], work: Path, data_dir: Path,
          size: int) -> tuple[float, float]:
    """Seconds until *size* hooks started at once all returned, and all were at the hub."""
    before = at_hub(data_dir)
    events = [json.dumps({"hook_event_name": "Stop", "session_id": f"burst-{time.time_ns()}-{n}",
                          "cwd": str(work), "last_assistant_message": f"reply {n}"}).encode()
              for n in range(size)]
    started = time.perf_counter()
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, cwd=work) for _ in events]
    for proc, event in zip(procs, events, strict=True):
        assert proc.stdin is not None
        proc.stdin.write(event)
        proc.stdin.close()
    for proc in procs:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read()
        proc.stderr.read()
        proc.wait(30)
    returned = time.perf_counter() - started
    while at_hub(data_dir) < before + size:
        if time.perf_counter() - started > 30:
            raise RuntimeError("a burst's events did not all reach the hub in 30 s")
        time.sleep(0.002)
    return returned, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="runs per cell (30)")
    parser.add_argument("--bursts", type=int, default=5, help="bursts of ten at once (5)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "hook.json"),
                        help="raw samples go here ('-' for none)")
    ns = parser.parse_args(argv)
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="ccr-bench-hook-"))
    samples: dict[tuple[str, str, str], list[float]] = {}
    delivered: dict[str, list[float]] = {e: [] for e in EVENTS}
    printed = printed_command()
    cmds = commands(printed)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        port = free_port()
        config = write_config(work / "ccr.toml", port=port, data_dir=work / "data",
                              servers=[{"id": "laptop", "kind": "local"}])
        hub = HubProcess(config=config, port=port, workdir=work, env=base_env())
        stack.callback(hub.stop)
        hub.start(timeout=30)
        envs: dict[str, dict[str, str]] = {}
        for state, url in (("up", hub.url), ("down", f"http://127.0.0.1:{free_port()}")):
            home = work / f"home-{state}"
            home.mkdir()
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("CCR_", "TMUX", "PYTHON"))}
            env.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"),
                       CCR_SPOOL_DIR=str(home / "spool"), CCR_HUB_URL=url,
                       CCR_SERVER_ID="laptop", CCR_SHARED_SECRET=SECRET, PYTHONPATH=str(ROOT))
            envs[state] = env
        stdin = {e: payload(e, work) for e in EVENTS}
        cells = [(h, e, c) for h in HUBS for e in EVENTS for c in cmds]
        for cell in cells:  # warm-up: page cache, bytecode caches, the hub's first request
            run_once(cmds[cell[2]], stdin[cell[1]], envs[cell[0]], work)
        spool_empty(work / "home-up" / "spool", 5)
        time.sleep(0.2)
        started = time.monotonic()
        for _ in range(ns.rounds):
            random.shuffle(cells)
            for state, event, name in cells:
                took = run_once(cmds[name], stdin[event], envs[state], work)
                samples.setdefault((state, event, name), []).append(took)
                if name in (BASELINE, FLOOR):
                    continue
                if state == "up":
                    at_hub = spool_empty(work / "home-up" / "spool", 5)
                    if at_hub is not None and name == PRINTED:
                        delivered[event].append(took + at_hub)
                else:
                    time.sleep(0.1)
        wall = time.monotonic() - started
        bursts = []
        for _ in range(ns.bursts):
            time.sleep(0.5)
            bursts.append(burst(cmds[PRINTED], envs["up"], work, work / "data", 10))
        spool_empty(work / "home-up" / "spool", 5)  # the hub has the rows; the files go next
        left_up = len(list((work / "home-up" / "spool").glob("*.json")))
    load_end = os.getloadavg()

    print(f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs, "
          f"{ns.rounds} rounds, interleaved, {wall:.0f} s")
    print(f"printed command: {printed}")
    print(f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    ok = True
    for state in HUBS:
        for event in EVENTS:
            base = percentile(samples[(state, event, BASELINE)], 0.5)
            floor = percentile(samples[(state, event, FLOOR)], 0.5)
            rows = []
            for name in cmds:
                values = samples[(state, event, name)]
                p50, p90 = percentile(values, 0.5), percentile(values, 0.9)
                rows.append([name, str(len(values)), f"{p50 * 1000:.1f}", f"{p90 * 1000:.1f}",
                             f"{p50 / base:.2f}", f"{p50 / floor:.2f}"])
                if name == PRINTED and p50 / base > TARGET:
                    ok = False
            print(f"\nhub {state} · {event} · wall ms until exit and pipes closed")
            print(table(["command", "n", "p50", "p90", "/ -c pass", "/ -S -c pass"], rows))
    for event in EVENTS:
        values = delivered[event]
        if values:
            print(f"\nhub up · {event}: printed command start -> event taken by the hub "
                  f"(spool empty): p50 {percentile(values, 0.5) * 1000:.1f} ms, "
                  f"p90 {percentile(values, 0.9) * 1000:.1f} ms (n={len(values)})")
    if bursts:
        returned, arrived = [b[0] for b in bursts], [b[1] for b in bursts]
        print(f"\nten printed hook commands started at once (Stop), {len(bursts)} bursts: all "
              f"returned p50 {percentile(returned, 0.5) * 1000:.0f} ms "
              f"(max {max(returned) * 1000:.0f}), all ten at the hub p50 "
              f"{percentile(arrived, 0.5) * 1000:.0f} ms (max {max(arrived) * 1000:.0f})")
    if left_up:
        print(f"!! {left_up} event(s) still spooled with the hub up")
        ok = False
    print(f"\ntarget (printed command p50 <= {TARGET}x `python -c pass` p50, each hub state and "
          f"event): {'MET' if ok else 'MISSED'}")
    if ns.json != "-":
        out = Path(ns.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "printed": printed, "rounds": ns.rounds, "load_start": load_start,
            "load_end": load_end, "python": sys.version,
            "samples": {" | ".join(k): v for k, v in samples.items()},
            "delivered": delivered, "bursts": bursts}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
