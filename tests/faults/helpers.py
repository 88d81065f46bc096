"""Fault-test helpers: the real hub, Bot API stand-in, tmux and sshd, short reliability timings."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import World, make_world
from tests.fixtures.hub import toml_value, wait_until
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

FAST_RELIABILITY: dict[str, Any] = {
    "ssh_attempts": 2, "ssh_base_s": 0.05, "ssh_max_s": 0.1,
    "breaker_failures": 5, "breaker_open_s": 1.5, "breaker_successes": 2,
}


def fault_world(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd | None,
                reliability: dict[str, Any] | None = None, **executor: Any) -> World:
    """make_world plus a [reliability] section (appended: ccr.toml allows it after servers)."""
    world = make_world(tmp_path, botapi, tmux, sshd, **executor)
    values = FAST_RELIABILITY | (reliability or {})
    lines = ["", "[reliability]", *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    config = world.hub.config
    config.write_text(config.read_text() + "\n".join(lines) + "\n")
    return world


DISPATCHED = ("executing", "completed", "failed", "uncertain", "timeout", "cancelled")
"""States a command is in once its dispatch ended."""


def commands(world: World) -> list[dict[str, Any]]:
    return list(world.hub.api("GET", "/api/commands?limit=100").json()["commands"])


def wait_command(world: World, text: str, timeout: float = 20.0) -> dict[str, Any]:
    """The command with this text once its dispatch ended (typed, or not).

    `completed` counts too: a fast agent's Stop can complete a command between two polls.
    """
    def final() -> dict[str, Any] | None:
        for c in commands(world):
            if c["text"] == text and c["state"] in DISPATCHED:
                return c
        return None
    found: dict[str, Any] = wait_until(final, timeout, message=f"command {text!r} to finish")
    return found


def bot_texts(world: World) -> list[str]:
    return [m["text"] for m in world.botapi.sent_messages()]


def log_lines(world: World, needle: str) -> list[str]:
    return [line for line in world.hub.logs().splitlines() if needle in line]


def dump(world: World) -> str:
    return json.dumps({"bot": bot_texts(world)[-8:], "log": world.hub.logs()[-3000:]},
                      indent=1)


def monotonic() -> float:
    return time.monotonic()
