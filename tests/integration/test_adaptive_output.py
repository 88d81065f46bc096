"""Adaptive submit driven by the pane's `%output`, and the one-round-trip dispatch, on real
parts: the stand-in agent (which swallows an Enter inside its paste window) in a private
tmux, locally and over the private sshd."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import ccr.remote.executor as executor_module
from ccr.core.errors import RemoteError
from ccr.remote.control import ControlClient, PaneWatch
from tests.fixtures.hub import prompts, wait_until
from tests.fixtures.tmux import Tmux
from tests.integration.test_control_mode import executor, ssh_server
from tests.integration.test_executor import agent


@pytest.mark.parametrize("where", ["local", "ssh"])
async def test_output_driven_submit_lands_every_enter_in_two_sessions(
        where: str, tmux: Tmux, tmp_path: Path, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two agents in two tmux sessions share one control client, which is moved to each
    pane's session to see its output. No Enter check: a swallowed Enter would be lost. Output
    is off again afterwards, and the user's windows are not changed."""
    watched: list[str] = []
    real = executor_module.start_watch

    async def spy(client: ControlClient, pane: str) -> PaneWatch | None:
        watch = await real(client, pane)
        if watch is not None:
            watched.append(pane)
        return watch
    monkeypatch.setattr(executor_module, "start_watch", spy)
    first, state1 = agent(tmux, tmp_path, "one")
    second, state2 = agent(tmux, tmp_path, "two")
    second = dataclasses.replace(second, tmux_session="two")
    windows = tmux.run("list-windows", "-a", "-F", "#{session_name} #{window_active}")
    server: Any = ssh_server(request.getfixturevalue("sshd")) if where == "ssh" else None
    ex = executor(server, submit="adaptive", adaptive_min_ms=20, settle_ms=300,
                  enter_check_ms=0)
    for i in range(4):
        await ex.send_text(first, f"to one {i}")
        await ex.send_text(second, f"to two {i}")
    wait_until(lambda: len(prompts(state1)) >= 4 and len(prompts(state2)) >= 4, 5)
    assert prompts(state1) == [f"to one {i}" for i in range(4)]
    assert prompts(state2) == [f"to two {i}" for i in range(4)]
    assert watched == [first.pane_id, second.pane_id] * 4
    flags = tmux.run("list-clients", "-F", "#{client_control_mode} #{client_flags}")
    assert all("no-output" in line for line in flags.splitlines() if line.startswith("1"))
    assert tmux.run("list-windows", "-a", "-F", "#{session_name} #{window_active}") == windows
    await ex.close()


@pytest.mark.parametrize("where", ["local", "ssh"])
async def test_no_settle_types_text_and_enter_in_one_line(
        where: str, tmux: Tmux, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    out = tmp_path / "line"
    pane = tmux.new_session("reader", f"read line; printf %s \"$line\" > {out}; sleep 30")
    session, _ = agent(tmux, tmp_path)
    session = dataclasses.replace(session, pane_id=pane)
    server: Any = ssh_server(request.getfixturevalue("sshd")) if where == "ssh" else None
    ex = executor(server, settle_ms=0, enter_check_ms=0)
    await ex.send_text(session, "one trip; $HOME é")
    wait_until(lambda: out.exists() and out.read_text() == "one trip; $HOME é", 5)
    gone = dataclasses.replace(session, pane_id="%999")
    with pytest.raises(RemoteError) as caught:
        await ex.send_text(gone, "never typed")
    assert not caught.value.sent
    await ex.close()
