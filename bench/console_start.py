"""Console start: from process start to the first screen painted (the roadmap's dashboard
gate: under 2 s), and to that screen filled with what the hub holds.

Each run is a fresh Python process (`python -m bench.console_start --child KIND`), started
with a temp HOME holding a real ccr.toml (one local server on a private tmux socket, hub API
on a free port, Telegram off). The child builds the console as `ccr console` does (the
CLI imported, the config loaded from that file, ConsoleApp building the Hub after its first
frame) and runs it headless. It prints the time of the first frame Textual renders for the
terminal (headless, computed and dropped), and, once the first screen shows what the hub
holds (hub started, the overview's first read on screen) and one more refresh has gone out,
the time again, and exits. The parent takes the time just before spawning the process, so
imports, config, the hub's build and start (SQLite, migrations, the first probe) and
Textual's first paints are all inside the figures.

  overview 200x60   the console at 200x60: its first screen is the overview
  main 80x24        the console at 80x24: its first screen is the main screen
  bare textual      a Textual app with one Static, for reference (no ccr at all)

Run `python -m bench.console_start [--runs 7]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/console_start.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import Summary, ms, table

ROOT = Path(__file__).resolve().parents[1]
GATE_MS = 2000.0
KINDS = {"overview": ("overview 200x60", (200, 60)), "main": ("main 80x24", (80, 24)),
         "bare": ("bare textual", (200, 60))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(home: Path) -> Path:
    path = home / ".config" / "ccr" / "ccr.toml"
    path.parent.mkdir(parents=True)
    path.write_text(f"""[hub]
listen = "127.0.0.1:{free_port()}"
data_dir = "{home / 'data'}"

[[servers]]
id = "laptop"
kind = "local"
tmux_socket = "ccr-bench-{os.getpid()}"
""")
    return path


# --- the child: one start, one figure ----------------------------------------------------------


def mark(name: str) -> None:
    print(f"MARK {name} {time.time():.6f}", flush=True)


def mark_first_frame(app: Any) -> None:
    """Print "frame" when the app first renders a frame of its screen for the terminal (in
    a real terminal it is written then; headless, Textual computes it and drops it)."""
    display = app._display
    done = False

    def first(screen: Any, renderable: Any) -> None:
        nonlocal done
        if renderable is not None and not done:
            done = True
            mark("frame")
        display(screen, renderable)

    app._display = first


async def painted(pilot: object, ready: object) -> None:
    """Wait (in the app's loop) until `ready()`, then for one more refresh; print the time."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await pilot.pause()
    mark("screen")  # the first screen laid out and painted (the hub may still be starting)
    while not ready():  # type: ignore[operator]  # noqa: ASYNC110 (polls the app's state)
        await asyncio.sleep(0.005)
    await pilot.pause()  # the refresh after the data arrived has gone out
    mark("data")
    pilot.app.exit()


def child(kind: str, config: str) -> None:
    _, size = KINDS[kind]
    if kind == "bare":
        from textual.app import App, ComposeResult
        from textual.widgets import Static

        mark("imports")

        class Bare(App[None]):
            def compose(self) -> ComposeResult:
                yield Static("hello")

        bare = Bare()
        mark_first_frame(bare)
        bare.run(headless=True, size=size,
                 auto_pilot=lambda p: painted(p, lambda: bare.screen.is_mounted))
        return
    import ccr.cli.main  # noqa: F401  (`ccr console` loads the CLI first)
    from ccr.console.app import ConsoleApp
    from ccr.core.config import config_path, load_settings

    mark("imports")
    settings = load_settings(config)

    def build() -> Any:  # as `ccr console` builds it: once the first screen is painted
        from ccr.hub import Hub

        return Hub(settings, config_file=config_path(config))

    app = ConsoleApp(build_hub=build)
    mark_first_frame(app)

    def ready() -> bool:
        if not app.started:
            return False
        if kind == "overview":
            return app.current_mode == "overview" and app.overview.settled >= 1
        return app.current_mode == "main" and app.main.is_mounted

    app.run(headless=True, size=size, auto_pilot=lambda p: painted(p, ready))


# --- the parent ----------------------------------------------------------------------------------


MARKS = ("imports", "frame", "screen", "data")


def one_run(kind: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        config = write_config(home)
        env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT),
               "CCR_SHARED_SECRET": "bench-secret-bench-secret-bench-secret"}
        env.pop("CCR_TELEGRAM_TOKEN", None)
        start = time.time()
        out = subprocess.run([sys.executable, "-m", "bench.console_start", "--child", kind,
                              "--config", str(config)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120, check=False)
        subprocess.run(["tmux", "-L", f"ccr-bench-{os.getpid()}", "kill-server"],
                       capture_output=True, check=False)
        marks = {line.split()[1]: (float(line.split()[2]) - start) * 1000
                 for line in out.stdout.splitlines() if line.startswith("MARK ")}
        if set(marks) == set(MARKS):
            return marks
        raise RuntimeError(f"{kind}: no paint reported (exit {out.returncode}):\n"
                           f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--child", choices=sorted(KINDS))
    parser.add_argument("--config", default="")
    args, _ = parser.parse_known_args(argv)
    if args.child:
        child(args.child, args.config)
        return 0
    one_run("bare")  # warm the OS file cache once; not counted
    results: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
    for _ in range(args.runs):
        for kind in KINDS:  # interleaved, so load changes hit every kind alike
            results[kind].append(one_run(kind))
    rows = []
    for kind, runs in results.items():
        for name in MARKS:
            s = Summary.of([r[name] for r in runs])
            rows.append([f"{KINDS[kind][0]}: {name}", str(s.n), ms(s.p50), ms(s.p95),
                         ms(s.max)])
    print(table(["from process start (ms)", "runs", "p50", "p95", "max"], rows))
    print("imports: Python, Textual and ccr imported · frame: the first frame of the first "
          "screen rendered for the terminal · screen: the app idle after it (the hub may "
          "still be starting) · data: the hub started and the screen shows "
          "what it holds, painted")
    frame = Summary.of([r["frame"] for r in results["overview"]])
    data = Summary.of([r["data"] for r in results["overview"]])
    verdict = "PASS" if frame.p95 < GATE_MS else "FAIL"
    print(f"gate: the overview's first screen p95 {ms(frame.p95)} ms < {GATE_MS:.0f} ms: "
          f"{verdict} · filled with the hub's data p95 {ms(data.p95)} ms · "
          f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
