"""The gap between text and Enter that the real Claude Code needs, measured on it.

The real client (`CCR_CLAUDE_BIN`, or the cache `bash scripts/test` fills) runs offline in a
private tmux server against the Messages API stand-in (tests/messages_api.py), with no hooks,
so nothing but the client itself is timed. Each dispatch is ccr's own `Executor.send_text`
on the control transport with the Enter check off (a swallowed Enter is not rescued):

* fixed N ms: `submit = "fixed"`, `settle_ms` N: the text (`send-keys -H`), N ms, the Enter
  as its own command; N = 0 sends text and Enter in one control-mode line (one burst);
* adaptive: `submit = "adaptive"` with the shipped `adaptive_min_ms` and `settle_ms`.

A dispatch counts as submitted when the API receives exactly the text as the prompt within
3 s; otherwise the Enter was lost (it became a line break in the input box, which is then
cleared with one Ctrl-C). Texts: short (~30 characters), 400 and 2000 characters, one line.
Run `python -m bench.adaptive --real` (or `python -m bench.real_gap --help`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # `python bench/real_gap.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dispatch import session_for
from bench.stats import Summary, table
from ccr.core.config import ExecutorSettings, LocalServer
from ccr.remote.executor import Executor
from tests.fixtures.claude import Claude, find_claude, start_claude
from tests.fixtures.tmux import Tmux
from tests.messages_api import MessagesApiStandIn, text

LENGTHS = {"short": 30, "400": 400, "2000": 2000}


@dataclass
class Cell:
    length: str
    how: str
    settings: ExecutorSettings
    sent: int = 0
    lost: int = 0
    samples_ms: list[float] = field(default_factory=list)


def body(length: int, n: int, how: str) -> str:
    head = f"gap trial {n} {how} "
    filler = "lorem ipsum dolor sit amet " * (length // 27 + 1)
    return (head + filler)[:length].rstrip() + "."


async def trial(cell: Cell, api: MessagesApiStandIn, claude: Claude, executor: Executor,
                socket: str, n: int) -> None:
    prompt = body(LENGTHS[cell.length], n, cell.how.split()[0])
    session = session_for("local", claude.pane, socket)
    before = len(api.prompts(claude.api_key))
    started = time.time()
    await executor.send_text(session, prompt)
    cell.sent += 1
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        got = api.prompts(claude.api_key)[before:]
        if got:
            request = api.main_requests(claude.api_key)[-1]
            if got == [prompt]:
                cell.samples_ms.append((request.at - started) * 1000)
            else:
                cell.lost += 1  # submitted, but not as typed
            await asyncio.sleep(0.5)  # the answer is drawn, the input box is back
            return
        await asyncio.sleep(0.005)
    cell.lost += 1
    await executor.press(session, ["C-c"])  # clears the input; a second one would quit
    await asyncio.sleep(1.5)


async def run(ns: argparse.Namespace, work: Path, tmux: Tmux) -> list[Cell]:
    shipped = ExecutorSettings()
    ways = [(f"fixed {g} ms", ExecutorSettings(transport="control", submit="fixed",
                                               settle_ms=g, enter_check_ms=0))
            for g in ns.gaps]
    ways.append((f"adaptive (min {shipped.adaptive_min_ms} ms)",
                 ExecutorSettings(transport="control", enter_check_ms=0)))
    cells = [Cell(length, how, st) for length in LENGTHS for how, st in ways]
    with MessagesApiStandIn() as api:
        api.on(lambda prompt: True, text("ok."))
        claude = start_claude(tmux, "gap", work, api_url=api.base_url, hub_url="", server_id="",
                              hooks=False)
        socket = tmux.socket_path
        executors = {id(c.settings): Executor([LocalServer(id="local", kind="local")],
                                              c.settings) for c in cells}
        try:
            for c in cells[:1]:  # warm the control client and the client's first turn
                await trial(c, api, claude, executors[id(c.settings)], socket, 0)
                c.sent = c.lost = 0
                c.samples_ms.clear()
            for n in range(1, ns.count + 1):
                for c in cells:
                    await trial(c, api, claude, executors[id(c.settings)], socket, n)
                print(f"round {n}/{ns.count} done", flush=True)
        finally:
            for ex in executors.values():
                with contextlib.suppress(Exception):
                    await ex.close()
    return cells


def report(cells: list[Cell]) -> str:
    rows = []
    for c in cells:
        sm = Summary.of(c.samples_ms)
        rows.append([c.length, c.how, str(c.sent), str(c.lost),
                     *(f"{v:.0f}" for v in sm.figures())])
    return table(["text", "submit", "n", "lost", "p50", "p95", "p99", "max"], rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.real_gap", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=10, help="dispatches per cell")
    p.add_argument("--gaps", type=int, nargs="+", default=[0, 2, 5, 10, 20, 50],
                   help="settle_ms values to try (ms)")
    ns = p.parse_args(argv)
    binary, why = find_claude()
    if binary is None:
        print(f"the real Claude Code is not installed ({why}); `bash scripts/test` installs it",
              file=sys.stderr)
        return 2
    print(f"real-client Enter gap · {binary} · {os.cpu_count()} CPU(s) · load "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ccr-bench-gap-"))
    tmux = Tmux(socket_name=f"ccr-bench-{uuid.uuid4().hex[:8]}")
    try:
        cells = asyncio.run(run(ns, work, tmux))
    finally:
        tmux.kill_server()
        shutil.rmtree(work, ignore_errors=True)
    print(report(cells))
    print(f"\nlatency: send_text called -> the API receives the prompt · wall time "
          f"{time.monotonic() - started:.0f} s · load at the end "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
