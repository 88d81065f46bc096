"""/screen end to end: from the Telegram update to the photo at the Bot API stand-in.

One `/screen HANDLE` at a time to a `local` and an `ssh` session (the real hub process, the
Bot API stand-in, tmux, the stand-in agent; its pane holds a screenful of coloured text),
measured from just before the stand-in hands out the update to the moment its sendPhoto
handler has the upload; beside it, the render alone (capture-pane -e of the same pane drawn
to PNG bytes in this process) and the floor of any answer on this path (`/help`). The
issue's bar is 3 s.

    python -m bench.screen [--count N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/screen.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.feedback import floor
from bench.rig import CHAT, Rig
from bench.stats import Summary, ms, table
from ccr.imaging.fonts import find_font
from ccr.imaging.pane_image import pane_font, render_png

FLOOR_S = 3.0
COLOURED = "".join(f"\x1b[3{i % 8}m{i:03d}\x1b[0m the quick brown fox \x1b[1mjumps\x1b[0m over "
                   f"\x1b[7mthe lazy dog\x1b[0m \x1b[38;5;{i}m{'=' * 60}\x1b[0m\r\n"
                   for i in range(60))
"""A screenful of coloured text, written to the pane's terminal as a program would."""


def measure(rig: Rig, handle: str) -> float:
    before = len(rig.api.sent_photos(CHAT))
    t0 = time.monotonic()
    rig.api.push_text(CHAT, f"/screen {handle}")
    deadline = t0 + 30
    while len(rig.api.sent_photos(CHAT)) == before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no photo for {handle}; hub log:\n{rig.hub.logs()[-1500:]}")
        time.sleep(0.001)
    return float(rig.api.sent_photos(CHAT)[before]["at"]) - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=30, help="/screen per session kind")
    opts = parser.parse_args(argv)
    files = find_font()
    if files is None:
        print("no monospace font: install fonts-dejavu-core", file=sys.stderr)
        return 1
    font = pane_font(files)
    with Rig(hooks_every_prompt=True) as rig:
        rig.start_hub(settle_ms=None, enter_check_ms=None)
        rig.start_agents()
        for agent in rig.agents:  # a full, coloured screen (the agent just waits for input)
            tty = rig.tmux.run("display-message", "-p", "-t", agent.pane, "#{pane_tty}")
            Path(tty.strip()).write_text(COLOURED, encoding="utf-8")
        handles = {agent.kind: agent.handle for agent in rig.agents}
        series: dict[str, list[float]] = {}
        for seq in range(opts.count * 2):
            kind = ("local", "ssh")[seq % 2]
            series.setdefault(f"/screen {kind}", []).append(measure(rig, handles[kind]))
            series.setdefault("ref /help (no capture, no upload)", []).append(floor(rig))
        pane = rig.agents[0].pane
        shot = rig.tmux.run("capture-pane", "-e", "-p", "-t", pane).rstrip("\n").split("\n")
        size = rig.tmux.run("display-message", "-p", "-t", pane,
                            "#{pane_width} #{pane_height}").split()
        width, height = int(size[0]), int(size[1])
        for _ in range(opts.count):
            t0 = time.perf_counter()
            png = render_png(shot, width, height, font)
            series.setdefault(f"render {width}x{height} alone", []).append(
                time.perf_counter() - t0)
        rows = []
        worst = 0.0
        for label, values in sorted(series.items()):
            s = Summary.of([v * 1000 for v in values])
            rows.append([label, str(s.n), *(ms(f) for f in s.figures())])
            if label.startswith("/screen"):
                worst = max(worst, s.figures()[1])
        print(f"# /screen latency (ms), {opts.count} per kind, PNG {len(png)} bytes, "
              f"{platform.node()} {platform.processor() or platform.machine()}")
        print(table(["path", "n", "p50", "p95", "p99", "max"], rows))
        verdict = "within" if worst <= FLOOR_S * 1000 else "OVER"
        print(f"p95 of /screen {ms(worst)} ms: {verdict} the {FLOOR_S:g} s bar")
    return 0 if worst <= FLOOR_S * 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
