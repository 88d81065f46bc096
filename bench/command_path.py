"""Command path latency: a Telegram update -> the text submitted in the tmux pane.

For a `local` and an `ssh` server, one command at a time, it measures

* ccr: the Bot API stand-in hands out `/cmd HANDLE text` -> the real hub process (long
  polling, python-telegram-bot, SQLite, executor) -> tmux -> the stand-in agent takes the Enter;
* the reference: the same dispatch done plainly, literal text with `tmux send-keys -l`, the
  same settle, then `send-keys Enter`, by local tmux subprocesses or by `ssh` over a warm
  OpenSSH ControlMaster to the same sshd and pane.

Latency is from just before the update is handed out (or the first reference process is
started) to the agent's own timestamp of the Enter in prompts.jsonl, so the 1 ms polling
only paces the run and never rounds a figure. Run `python -m bench.command_path --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/command_path.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rig import CHAT, ROOT, Interrupted, Rig, Target, make_targets
from bench.stats import Summary, ms, percentile, table
from ccr.core.config import ExecutorSettings

VIAS = ("ccr", "ref")
TYPING = ("🕓", "⌨️")
"""A command's live message while it waits for the pane or is being typed."""
TYPED = ("✓", "✅")
"""Typed into the pane (the stand-in's hook runs for its greeting only), or answered."""
LABELS = {
    ("ccr", "local"): "ccr local  (Bot API -> hub -> tmux)",
    ("ref", "local"): "ref local  (tmux send-keys x2)",
    ("ccr", "ssh"): "ccr ssh    (Bot API -> hub -> asyncssh)",
    ("ref", "ssh"): "ref ssh    (ssh ControlMaster x2)",
}

LEGEND = """
exact: submitted as typed · 2nd Enter: ccr's first Enter was swallowed and the hub's Enter
check sent another (latency >= settle + check) · merged: submitted joined with other text ·
missing: not submitted in settle + check + 3 s (Enter swallowed, none resent) · failed: the
hub reported an error · overhead: ccr's figure minus the reference's, percentile by percentile"""


@dataclass
class Options:
    count: int
    warmup: int
    settles: list[int]
    enter_check_ms: int | None
    burst_ms: float
    poll_ms: float
    gap_ms: float
    kinds: list[str]
    hooks_every_prompt: bool
    json_path: Path | None
    keep: bool


@dataclass
class Series:
    """One path (ccr or reference) to one server kind at one settle time."""

    via: str
    kind: str
    settle_ms: int
    latencies_ms: list[float] = field(default_factory=list)
    notice_lag_ms: list[float] = field(default_factory=list)
    exact: int = 0
    merged: int = 0
    rescued: int = 0
    """Arrived only after the hub's second Enter: its first one was swallowed."""
    missing: int = 0
    failed: int = 0
    strays: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LABELS[(self.via, self.kind)]

    def note(self, text: str) -> None:
        if len(self.notes) < 5:
            self.notes.append(text)


def enter_check_ms(opts: Options) -> int:
    if opts.enter_check_ms is not None:
        return opts.enter_check_ms
    return ExecutorSettings().enter_check_ms


def run_command(rig: Rig, target: Target, via: str, settle_ms: int, seq: int,
                opts: Options, series: Series) -> None:
    """Send one command, wait until it arrives (or is given up), then until all is quiet."""
    token = f"{seq:05d}{target.kind[0]}{via[0]}{secrets.token_hex(3)}"
    # The token ends the text: the hub's Enter check matches the text's last 8 characters.
    text = f"run the tests, bench {token}"
    check_ms = enter_check_ms(opts)
    deadline_s = (settle_ms + check_ms) / 1000 + 3.0
    start_wall, start = time.time(), time.perf_counter()
    if via == "ccr":
        rig.api.push_text(CHAT, f"/cmd {target.handle} {text}")
    else:
        target.reference(text, settle_ms / 1000)
    prompt, others = target.watch.wait_for(token, start + deadline_s)
    series.strays += len(others)
    for other in others:
        series.note(f"#{seq}: unexpected prompt {other.text!r}")
    if prompt is None:
        series.missing += 1
        series.note(f"#{seq}: {text!r} not submitted in {deadline_s:g} s (Enter swallowed?)")
        target.interrupt(rig.tmux)  # clear the input line, so the next one starts clean
        time.sleep(0.2)
        series.strays += len(target.watch.poll())
    else:
        if prompt.text == text:
            series.exact += 1
        else:
            series.merged += 1
            series.note(f"#{seq}: arrived as {prompt.text!r}")
        latency = (prompt.at - start_wall) * 1000
        series.latencies_ms.append(latency)
        if via == "ccr" and check_ms and latency >= settle_ms + check_ms:
            series.rescued += 1  # the hub's Enter check saw the text still there, resent
        series.notice_lag_ms.append((prompt.seen - start) * 1000
                                    - (prompt.at - start_wall) * 1000)
    if via == "ccr":  # the hub is done with it (Enter check, typed state shown) before the next
        try:
            result = rig.api.wait_for_message(
                lambda m: token in m["text"] and not m["text"].startswith(TYPING), timeout=15)
        except AssertionError:
            if rig.hub.proc is None or rig.hub.proc.poll() is not None:
                raise RuntimeError(f"the hub exited:\n{rig.hub.logs()[-3000:]}") from None
            series.failed += 1
            series.note(f"#{seq}: no result message from the hub")
        else:
            if not result["text"].startswith(TYPED):
                series.failed += 1
                series.note(f"#{seq}: hub said {result['text']!r}")
    if opts.hooks_every_prompt:  # the agent's Stop hook has reached Telegram
        try:
            rig.api.wait_for_message(lambda m: token in m["text"]
                                     and "Done in" in m["text"], timeout=15)
        except AssertionError:
            series.note(f"#{seq}: no Stop notification")
    time.sleep(opts.gap_ms / 1000)


def run_settle(rig: Rig, targets: dict[str, Target], settle_ms: int, opts: Options,
               done: list[Series]) -> None:
    """All paths at one settle time, commands interleaved so drift hits every path alike.

    The agents start with the first hub (`targets` empty until then). The series go into
    `done` at once and fill up, so an interrupted run still reports."""
    rig.start_hub(settle_ms, opts.enter_check_ms)
    if not targets:
        rig.start_agents()
        targets.update(make_targets(rig, opts.poll_ms / 1000))
    series = [Series(via, kind, settle_ms) for kind in opts.kinds for via in VIAS]
    warm = [Series(via, kind, settle_ms) for kind in opts.kinds for via in VIAS]
    done += series
    for n in range(opts.warmup):  # connections opened, caches filled, not recorded
        for s in warm:
            run_command(rig, targets[s.kind], s.via, settle_ms, -1 - n, opts, s)
    for n in range(opts.count):
        for s in series:
            run_command(rig, targets[s.kind], s.via, settle_ms, n, opts, s)
    problems = [f"{s.label}: {note}" for s in warm for note in s.notes]
    if problems:
        print("warm-up problems:\n  " + "\n  ".join(problems), flush=True)


def report(all_series: list[Series], opts: Options) -> str:
    """The table: each path's figures, then ccr's overhead over its reference."""
    out: list[str] = []
    check = enter_check_ms(opts)
    for settle in opts.settles:
        group = [s for s in all_series if s.settle_ms == settle]
        if not group:
            continue
        default = " (hub default)" if settle == ExecutorSettings().settle_ms else ""
        out.append(f"\nsettle {settle} ms{default} · hub enter check {check} ms · agent burst "
                   f"{opts.burst_ms:g} ms · one command at a time · figures in ms")
        header = ["path", "n", "p50", "p95", "p99", "max", "exact", "2nd Enter", "merged",
                  "missing", "failed"]
        rows: list[list[str]] = []
        summaries = {(s.via, s.kind): Summary.of(s.latencies_ms) for s in group}
        for s in group:
            sm = summaries[(s.via, s.kind)]
            rescued = str(s.rescued) if s.via == "ccr" else "-"
            rows.append([s.label, str(sm.n), *(ms(v) for v in sm.figures()), str(s.exact),
                         rescued, str(s.merged), str(s.missing), str(s.failed)])
        for kind in opts.kinds:
            ccr, ref = summaries.get(("ccr", kind)), summaries.get(("ref", kind))
            if ccr and ref and ccr.n and ref.n:
                rows.append([f"overhead {kind} (ccr - ref)", "",
                             *(ms(v, signed=True) for v in ccr.minus(ref)), "", "", "", "", ""])
        out.append(table(header, rows))
        lags = [lag for s in group for lag in s.notice_lag_ms]
        if lags:
            out.append(f"arrival = the agent's own time.time() of the Enter (µs resolution); "
                       f"the {opts.poll_ms:g} ms poll noticed it p50 {ms(percentile(lags, .5))}"
                       f" / max {ms(max(lags))} ms later (paces the run, not in the figures)")
        for s in group:
            if s.strays:
                out.append(f"{s.label}: {s.strays} prompt(s) that matched no command")
            for note in s.notes:
                out.append(f"  {s.label}: {note}")
    if out:
        out.append(LEGEND)
    return "\n".join(out)


def machine() -> dict[str, str]:
    info = {"platform": platform.platform(), "machine": platform.machine()}
    for name, argv in (("nproc", ["nproc"]), ("lscpu", ["lscpu"])):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        info[name] = out.stdout.strip()
    try:
        git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                             capture_output=True, text=True, timeout=5, check=False)
        info["code"] = git.stdout.strip() or "not a git checkout"
    except (OSError, subprocess.SubprocessError):
        info["code"] = "unknown"
    model = [line.split(":", 1)[1].strip() for line in info.get("lscpu", "").splitlines()
             if line.startswith("Model name:")]
    info["cpu"] = model[0] if model else platform.processor()
    return info


def parse_args(argv: list[str] | None) -> Options:
    default_settle = ExecutorSettings().settle_ms
    p = argparse.ArgumentParser(prog="python -m bench.command_path", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=200,
                   help="recorded commands per path and settle time (default 200)")
    p.add_argument("--warmup", type=int, default=3,
                   help="unrecorded commands per path first (default 3)")
    p.add_argument("--settle-ms", default=f"{default_settle},20",
                   help="comma-separated executor settle times, one hub run each "
                        f"(default {default_settle},20; {default_settle} is the hub's default)")
    p.add_argument("--enter-check-ms", type=int, default=None,
                   help="hub executor enter_check_ms (default: the hub's own default)")
    p.add_argument("--burst-ms", type=float, default=15.0,
                   help="the stand-in agent's Enter-swallowing window (default 15)")
    p.add_argument("--poll-ms", type=float, default=1.0,
                   help="prompts.jsonl size polling interval (default 1)")
    p.add_argument("--gap-ms", type=float, default=10.0,
                   help="quiet time between commands (default 10)")
    p.add_argument("--only", choices=["local", "ssh"], help="measure one server kind only")
    p.add_argument("--hooks-every-prompt", action="store_true",
                   help="run the real hook for every agent event (slower; default: greeting)")
    p.add_argument("--json", type=Path, default=Path("bench/results/command_path.json"),
                   help="raw figures go here (default bench/results/command_path.json; "
                        "'-' for none)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ns = p.parse_args(argv)
    settles = [int(x) for x in str(ns.settle_ms).split(",") if x.strip()]
    if ns.count < 1 or ns.warmup < 0 or not settles or min(settles) < 0:
        p.error("--count must be >= 1, --warmup >= 0, settle times >= 0")
    return Options(count=ns.count, warmup=ns.warmup, settles=settles,
                   enter_check_ms=ns.enter_check_ms, burst_ms=ns.burst_ms, poll_ms=ns.poll_ms,
                   gap_ms=ns.gap_ms, kinds=[ns.only] if ns.only else ["local", "ssh"],
                   hooks_every_prompt=ns.hooks_every_prompt,
                   json_path=None if str(ns.json) == "-" else ns.json, keep=ns.keep)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    info = machine()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"command path benchmark · {info.get('nproc', '?')} CPU(s) {info['cpu']} · "
          f"{opts.count} commands per path · settle {opts.settles} ms · load {load} · "
          f"code {info['code']} in {ROOT}", flush=True)
    started = time.monotonic()
    done: list[Series] = []
    interrupted = 0
    versions: dict[str, str] = {}
    try:
        with Rig(burst_ms=opts.burst_ms, hooks_every_prompt=opts.hooks_every_prompt,
                 keep=opts.keep) as rig:
            versions = rig.versions()
            if opts.keep:
                print(f"work directory: {rig.workdir}", flush=True)
            targets: dict[str, Target] = {}
            for settle in opts.settles:
                t0 = time.monotonic()
                run_settle(rig, targets, settle, opts, done)
                print(f"settle {settle} ms done in {time.monotonic() - t0:.0f} s", flush=True)
    except KeyboardInterrupt as exc:
        interrupted = 128 + (exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)
        print("\ninterrupted; everything started was stopped. Figures so far:", flush=True)
    print(report(done, opts))
    elapsed = time.monotonic() - started
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nwall time {elapsed:.0f} s · load average at the end {load} "
          f"(other work on the machine shows up as noise)", flush=True)
    if opts.json_path is not None and done:
        opts.json_path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {
            "benchmark": "command_path", "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {k: v for k, v in info.items() if k != "lscpu"}, "versions": versions,
            "options": {k: str(v) if isinstance(v, Path) else v
                        for k, v in asdict(opts).items()},
            "elapsed_s": round(elapsed, 1), "interrupted": bool(interrupted),
            "loadavg_end": os.getloadavg(),
            "series": [asdict(s) | {"summary": asdict(Summary.of(s.latencies_ms))}
                       for s in done],
        }
        opts.json_path.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"raw figures: {opts.json_path}")
    return interrupted


if __name__ == "__main__":
    sys.exit(main())
