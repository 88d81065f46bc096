"""A console on a real hub (no HTTP), real SQLite, a local server on a private tmux socket."""

from __future__ import annotations

import asyncio
import gc
import itertools
import sys
import threading
import time
import traceback
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

_gc = {"started": 0.0, "longest": 0.0}


def _time_gc(phase: str, info: dict[str, Any]) -> None:
    """The longest garbage collection in this worker: a timed-out wait reports it (a long
    one holds the GIL, and every thread, the database's included, with it)."""
    if phase == "start":
        _gc["started"] = time.perf_counter()
    else:
        _gc["longest"] = max(_gc["longest"], time.perf_counter() - _gc["started"])


gc.callbacks.append(_time_gc)


@pytest.fixture(autouse=True)
def _short_gc_pauses() -> Iterator[None]:
    """Collect what the tests before left and freeze what survives for the length of this
    test: its collections scan only its own objects. A worker's heap grows test after test
    (Textual's caches), and late in a full run one collection stopped every thread of a
    console (the database's included) for 5.6 s, past the states' waits. Unfrozen after, so
    what the frozen objects leave behind is still collected."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


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
    longest = 0.0  # a pause waits for every widget to handle its messages: a busy one shows
    while not predicate():
        if time.monotonic() > deadline:
            hub = getattr(pilot.app, "hub", None)
            holder = hub.db.holder if hub is not None else None
            raise AssertionError(
                f"condition not met in the console within {within} s; the longest pause "
                f"took {longest:.1f} s, this worker's longest garbage collection "
                f"{_gc['longest']:.2f} s; the database is held by "
                f"{holder.get_name() if holder else 'nobody'}; its tasks were:\n"
                + tasks_now())
        paused = time.monotonic()
        await pilot.pause(0.02)
        longest = max(longest, time.monotonic() - paused)


def tasks_now() -> str:
    """Where every task of the loop stands, down its chain of awaits (a wait that timed out
    says what held it); Textual's idle message pumps are left out."""
    lines = []
    for task in asyncio.all_tasks():
        chain = awaits(task.get_coro())
        if task is asyncio.current_task() or (chain and IDLE in chain[-1]):
            continue
        lines.append(f"task {task.get_name()}:")
        lines.extend(f"  {where}" for where in chain)
    frames = sys._current_frames()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if thread is threading.main_thread() or frame is None:
            continue
        lines.append(f"thread {thread.name}:")
        lines.extend(f"  {line.strip()}" for line in traceback.format_stack(frame, limit=8)
                     if line.strip().startswith("File"))
    return "\n".join(lines)


IDLE = "queues.py"
"""Where an idle message pump (or any queue reader) waits: left out of the dump."""


def awaits(coro: Any) -> list[str]:
    """file:line of each coroutine (or async generator) the awaitable is suspended in."""
    out = []
    while coro is not None and len(out) < 30:
        frame = (getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
                 or getattr(coro, "gi_frame", None))
        if frame is not None:
            out.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = (getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
                or getattr(coro, "gi_yieldfrom", None))
    return out
