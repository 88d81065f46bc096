"""A Telegram command to the real Claude Code: how long until Claude has the prompt.

The real hub process, the Bot API stand-in, the real hook, and the real Claude Code 2.1.197
(offline against the Messages API stand-in, tests/messages_api.py) in a private tmux server,
reached locally and over a private sshd on 127.0.0.1. One command at a time, with the shipped
executor settings, two figures per command, both from just before the update is handed out:

* hook: the hub records the real UserPromptSubmit (the command's `received_at`): the hook ran
  in Claude and its event reached the hub;
* API: the Messages API stand-in receives the prompt (Claude runs its UserPromptSubmit hooks
  before it sends the prompt, so this includes the hook's run time).

Run `python -m bench.real_command --help`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # `python bench/real_command.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import Summary, table
from ccr.core.config import ExecutorSettings
from tests.botapi import BotApiStandIn
from tests.e2e.conftest import CHAT, make_world
from tests.fixtures.claude import find_claude, start_claude
from tests.fixtures.hub import wait_until
from tests.fixtures.sshd import start_sshd
from tests.fixtures.tmux import Tmux
from tests.messages_api import MessagesApiStandIn


def measure(where: str, count: int, warmup: int) -> tuple[list[float], list[float]]:
    """(update -> hub has the UserPromptSubmit, update -> API has the prompt), ms."""
    shipped = ExecutorSettings()
    work = Path(tempfile.mkdtemp(prefix=f"ccr-bench-real-{where}-"))
    tmux = Tmux(socket_name=f"ccr-bench-{uuid.uuid4().hex[:8]}")
    hook_ms: list[float] = []
    api_ms: list[float] = []
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        stack.callback(tmux.kill_server)
        botapi = stack.enter_context(BotApiStandIn())
        api = stack.enter_context(MessagesApiStandIn())
        sshd = None
        if where == "ssh":
            sshd = start_sshd(work / "sshd")
            stack.callback(sshd.stop)
        world = make_world(work, botapi, tmux, sshd, settle_ms=shipped.settle_ms,
                           enter_check_ms=shipped.enter_check_ms)
        world.hub.start()
        stack.callback(world.hub.stop)
        server = "kr4" if sshd is not None else "laptop"
        claude = start_claude(tmux, "bench", work, api_url=api.base_url, hub_url=world.hub.url,
                              server_id=server)
        claude.type("hi")
        world.notification_for(f"{server}:1", timeout=30)
        for n in range(warmup + count):
            prompt = f"bench command {n}"
            sent = len(api.prompts(claude.api_key))
            started = time.time()
            botapi.push_text(CHAT, f"/cmd {server}:1 {prompt}")
            api.wait_prompts(sent + 1, claude.api_key, timeout=30)
            at = api.main_requests(claude.api_key)[-1].at

            def done(prompt: str = prompt) -> dict[str, float] | None:
                for c in world.hub.api("GET", "/api/commands").json()["commands"]:
                    if c["text"] == prompt and c["state"] == "completed":
                        return dict(c)
                return None

            command = wait_until(done, 30, 0.02, "the command to complete")
            if n >= warmup:
                hook_ms.append((command["received_at"] - started) * 1000)
                api_ms.append((at - started) * 1000)
    return hook_ms, api_ms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.real_command", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=30, help="commands per place")
    p.add_argument("--warmup", type=int, default=3, help="commands not counted, first")
    p.add_argument("--no-ssh", action="store_true", help="local only")
    ns = p.parse_args(argv)
    binary, why = find_claude()
    if binary is None:
        print(f"the real Claude Code is not installed ({why}); `bash scripts/test` installs it",
              file=sys.stderr)
        return 2
    print(f"Telegram update -> real Claude Code · {os.cpu_count()} CPU(s) · load "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    started = time.monotonic()
    rows = []
    for where in ("local",) if ns.no_ssh else ("local", "ssh"):
        hook_ms, api_ms = measure(where, ns.count, ns.warmup)
        for what, values in (("update -> UserPromptSubmit at the hub", hook_ms),
                             ("update -> prompt at the API", api_ms)):
            rows.append([where, what, str(len(values)),
                         *(f"{v:.0f}" for v in Summary.of(values).figures())])
    print(table(["where", "what", "n", "p50", "p95", "p99", "max"], rows))
    print(f"\nwall time {time.monotonic() - started:.0f} s · load at the end "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
