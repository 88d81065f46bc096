"""A console on a real hub (no HTTP), real SQLite, a local server on a private tmux socket."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ccr.console.app import ConsoleApp
from ccr.core.config import Settings, parse_settings
from ccr.core.models import HookEvent
from ccr.hub import Hub
from ccr.services.sessions import classify
from tests.fixtures.hub import SECRET
from tests.fixtures.tmux import Tmux

FROZEN = 1_764_000_000.0  # a fixed "now" so snapshots do not move


@pytest.fixture
def frozen_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("CCR_SHARED_SECRET", SECRET)
    monkeypatch.delenv("CCR_TELEGRAM_TOKEN", raising=False)
    tokens = (f"tok{n:05d}" for n in itertools.count(1))
    monkeypatch.setattr("ccr.store.sessions.new_token", lambda: next(tokens))


def make_settings(tmp_path: Path, tmux: Tmux,
                  servers: tuple[str, ...] = ("laptop",)) -> Settings:
    """Settings for `servers` (local, all on the test's tmux socket)."""
    return parse_settings({
        "hub": {"listen": "127.0.0.1:1", "data_dir": str(tmp_path / "data")},
        "executor": {"settle_ms": 50, "enter_check_ms": 50},
        "servers": [{"id": sid, "kind": "local", "tmux_socket": tmux.socket_name}
                    for sid in servers],
    })


def make_hub(tmp_path: Path, tmux: Tmux, *, frozen: bool = True,
             clock: Callable[[], float] | None = None,
             servers: tuple[str, ...] = ("laptop",)) -> Hub:
    """A hub on `servers` (local, all on the test's tmux socket), API off."""
    settings = make_settings(tmp_path, tmux, servers)
    if clock is None:
        clock = (lambda: FROZEN) if frozen else time.time
    return Hub(settings, clock=clock)


@pytest.fixture
def console(tmp_path: Path, tmux: Tmux, frozen_env: None) -> Iterator[ConsoleApp]:
    yield ConsoleApp(make_hub(tmp_path, tmux), start_http=False)


def hook_event(*, pane: str = "%1", name: str = "Stop", reply: str = "Tests pass now.",
               prompt: str = "run the tests", cwd: str = "/home/ana/shop",
               message: str | None = None, ntype: str | None = None,
               socket: str | None = None) -> HookEvent:
    return HookEvent(
        event_id=str(uuid.uuid4()), server_id="laptop", kind=classify(name, ntype, message),
        hook_event_name=name, claude_session_id="c-" + pane, cwd=cwd, pane_id=pane,
        tmux_socket=socket, tmux_session="work", message=message, notification_type=ntype,
        last_prompt=prompt, last_reply=reply, sent_at=FROZEN,
    )


async def wait_for(pilot: Any, predicate: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in the console; its tasks were:\n"
                                 + tasks_now())
        await pilot.pause(0.02)


def tasks_now() -> str:
    """Where every task of the loop stands (a wait that timed out says what held it)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.print_stack(limit=6, file=out)
    return out.getvalue()
