"""Command feedback latency: how soon the person on the phone learns what became of a command.

One command at a time to a `local` and an `ssh` session (the real hub process, the Bot API
stand-in, tmux, the stand-in agent firing the real `ccr hook` for every prompt), measured
from just before the Bot API stand-in hands out `/cmd HANDLE text`:

* ack: the command's live message arrives (sendMessage seen by the stand-in);
* received: it is edited to "Claude received it" (the agent's UserPromptSubmit hook);
* done: it is edited to "Done in ..." with the reply (the agent's Stop hook);

beside the reference in the same run: `/help`, answered by the bot's handler directly with
no database and no dispatch, the floor of any answer through this Bot API path.

    python -m bench.feedback [--count N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/feedback.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rig import CHAT, Rig
from bench.stats import Summary, ms, table


def _first(rig: Rig, match: Any, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        for msg in rig.api.sent_messages(CHAT):
            if match(msg):
                return msg
        time.sleep(0.001)
    last = "\n---\n".join(m["text"] for m in rig.api.sent_messages(CHAT)[-3:])
    raise TimeoutError(f"no matching message; the last ones:\n{last}\nhub log:\n"
                       f"{rig.hub.logs()[-1500:]}")


def _edit_at(msg: dict[str, Any], marker: str) -> float | None:
    """When the message first showed `marker` (an edit's time, or its sending)."""
    texts = [*msg["edits"], msg["text"]]
    times = [msg["at"], *msg["edited_at"]]
    for text, at in zip(texts, times, strict=False):
        if marker in text:
            return float(at)
    return None


def measure(rig: Rig, handle: str, seq: int) -> dict[str, float]:
    token = f"fb{seq:04d}"
    t0 = time.monotonic()
    rig.api.push_text(CHAT, f"/cmd {handle} ping {token}")
    card = _first(rig, lambda m: token in m["text"] and "Done in" in m["text"], t0 + 20)
    out = {"ack": card["at"] - t0}
    received = _edit_at(card, "✓✓")
    if received is not None:
        out["received"] = received - t0
    done = _edit_at(card, "Done in")
    assert done is not None
    out["done"] = done - t0
    return out


def floor(rig: Rig) -> float:
    t0 = time.monotonic()
    before = len(rig.api.sent_messages(CHAT))
    rig.api.push_text(CHAT, "/help")
    while len(rig.api.sent_messages(CHAT)) == before:
        time.sleep(0.001)
    return float(rig.api.sent_messages(CHAT)[before]["at"]) - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40, help="commands per session kind")
    opts = parser.parse_args(argv)
    with Rig(hooks_every_prompt=True) as rig:
        rig.start_hub(settle_ms=None, enter_check_ms=None)
        rig.start_agents()
        handles = {agent.kind: agent.handle for agent in rig.agents}
        series: dict[str, list[float]] = {}
        for seq in range(opts.count * 2):
            kind = ("local", "ssh")[seq % 2]
            for name, value in measure(rig, handles[kind], seq).items():
                series.setdefault(f"{name} {kind}", []).append(value)
            series.setdefault("ref /help (no DB, no dispatch)", []).append(floor(rig))
        rows = []
        for label, values in sorted(series.items()):
            s = Summary.of([v * 1000 for v in values])
            rows.append([label, str(s.n), *(ms(f) for f in s.figures())])
        print(f"# command feedback latency (ms), {opts.count} commands per kind, "
              f"{platform.node()} {platform.processor() or platform.machine()}")
        print(table(["path", "n", "p50", "p95", "p99", "max"], rows))
        print("ack = live message sent; received = edited after Claude's UserPromptSubmit; "
              "done = edited with Claude's reply (agent answers at once; default settle "
              "300 ms before the Enter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
