"""The executor over tmux control mode, on real parts: the stand-in agent in a private tmux,
locally and over the private sshd. Texts arrive literally; a killed session is seen through
the control channel at once; a dropped connection mid-dispatch is uncertain and the text is
typed at most once; a tmux that refuses control mode falls back to exec."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from ccr.core.config import ExecutorSettings, LocalServer, SshServer
from ccr.core.errors import RemoteError
from ccr.remote.executor import Executor
from tests.e2e.test_core_loop import HOSTILE
from tests.fixtures.hub import prompts, wait_until
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux
from tests.integration.test_executor import agent


def ssh_server(sshd: Sshd) -> SshServer:
    return SshServer(id="laptop", kind="ssh", host=sshd.host, port=sshd.port, user=sshd.user,
                     identity=sshd.identity, known_hosts=sshd.known_hosts)


def executor(where: Any, **settings: Any) -> Executor:
    server = where if isinstance(where, SshServer) else LocalServer(id="laptop", kind="local")
    base: dict[str, Any] = {"settle_ms": 60, "enter_check_ms": 100, "transport": "control"}
    return Executor([server], ExecutorSettings(**(base | settings)))


@pytest.mark.parametrize("where", ["local", "ssh"])
async def test_hostile_texts_arrive_literally_through_control_mode(
        where: str, tmux: Tmux, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    session, state = agent(tmux, tmp_path)
    ex = executor(ssh_server(request.getfixturevalue("sshd")) if where == "ssh" else None)
    marker = tmp_path / "pwned"
    texts = [t.replace("{marker}", str(marker)) for t in HOSTILE]
    for n, text in enumerate(texts, 1):
        await ex.send_text(session, text)
        wait_until(lambda n=n: len(prompts(state)) >= n, 5)
    assert prompts(state) == texts
    assert not marker.exists()
    assert ex.transport_name("laptop") == "control mode"
    await ex.close()


async def test_many_panes_in_flight_on_one_channel(tmux: Tmux, tmp_path: Path) -> None:
    panes = [agent(tmux, tmp_path, f"c{n}") for n in range(4)]
    ex = executor(None, settle_ms=40, enter_check_ms=60)
    texts = {n: [f"pane {n} line {i}" for i in range(3)] for n in range(4)}

    async def feed(n: int) -> None:
        for t in texts[n]:
            await ex.send_text(panes[n][0], t)

    await asyncio.gather(*(feed(n) for n in range(4)))
    for n, (_, state) in enumerate(panes):
        wait_until(lambda s=state: len(prompts(s)) >= 3, 5)
        assert prompts(state) == texts[n]
    await ex.close()


async def test_a_killed_session_is_seen_through_the_channel_within_a_second(
        tmux: Tmux, tmp_path: Path) -> None:
    agent(tmux, tmp_path, "keeper")
    session, _ = agent(tmux, tmp_path, "doomed")
    ex = executor(None)
    seen: list[float] = []
    ex.on_panes_changed = lambda _server: seen.append(time.monotonic())
    await ex.send_text(session, "hello")
    await asyncio.sleep(0.2)
    seen.clear()
    killed = time.monotonic()
    tmux.kill_session("doomed")
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen and seen[0] - killed < 1.0
    with pytest.raises(RemoteError) as info:
        await ex.send_text(session, "to nowhere")
    assert (info.value.code, info.value.sent) == ("pane_gone", False)
    await ex.close()


async def test_dropped_connection_mid_dispatch_is_uncertain_and_typed_at_most_once(
        tmux: Tmux, tmp_path: Path, sshd: Sshd) -> None:
    """The text's line is written but its `%end` never comes (the server is frozen), then
    the connection dies: uncertain, never resent; later dispatches use a new connection."""
    session, state = agent(tmux, tmp_path)
    ex = executor(ssh_server(sshd), command_timeout_s=5)
    await ex.send_text(session, "warm")
    wait_until(lambda: prompts(state), 5)
    sshd.freeze()

    async def drop_soon() -> None:
        await asyncio.sleep(0.3)
        for pid in sshd.connection_pids():
            sshd.drop_connection(pid)
        sshd.thaw()

    dropper = asyncio.create_task(drop_soon())
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        await ex.send_text(session, "only once please")
    await dropper
    assert (info.value.code, info.value.sent) == ("delivery_uncertain", True)
    assert time.monotonic() - started < 3, "the loss is seen when it happens, not at timeout"
    await asyncio.sleep(0.3)
    assert tmux.capture(session.pane_id or "").count("only once please") <= 1
    assert prompts(state) == ["warm"]
    await ex.send_text(session, "after")
    wait_until(lambda: len(prompts(state)) >= 2, 5)
    assert prompts(state) == ["warm", "after"]
    await ex.close()


async def test_a_tmux_that_refuses_control_mode_falls_back_to_exec(
        tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which("tmux")
    assert real
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "tmux"
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = -C ] && "
                    "{ echo 'usage: unknown option -- C' >&1; exit 1; }; done\n"
                    f"exec {real} \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    session, state = agent(tmux, tmp_path)
    ex = executor(None, transport="auto")
    await ex.send_text(session, "through exec")
    wait_until(lambda: prompts(state), 5)
    assert prompts(state) == ["through exec"]
    assert ex.transport_name("laptop").startswith("exec (")
    await ex.close()


async def test_adaptive_submit_with_a_floor_above_the_burst_needs_one_enter(
        tmux: Tmux, tmp_path: Path) -> None:
    """Adaptive submit goes once the text shows and `adaptive_min_ms` passed. With a floor
    above the stand-in's 15 ms burst window every Enter lands (no early Enter counted).
    (Measured: with no floor all 5 Enters came early and were swallowed as newlines; the
    check's second Enter did not always repair that, so the floor defaults to 20 ms.)"""
    session, state = agent(tmux, tmp_path)
    ex = executor(None, submit="adaptive", adaptive_min_ms=40, settle_ms=300)
    for i in range(5):
        await ex.send_text(session, f"floored {i}")
    wait_until(lambda: len(prompts(state)) >= 5, 5)
    assert prompts(state) == [f"floored {i}" for i in range(5)]
    assert ex.submits == {"adaptive": 5, "early": 0}
    await ex.close()
