"""`n` starts Claude from the console and `x` stops it (after the question), on a real hub
with its API on (the stand-in agent's hook reports to it), real tmux on a private socket."""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import Input

from ccr.console.app import ConsoleApp
from ccr.console.screens import ConfirmScreen, MainScreen, NewSessionScreen
from ccr.console.widgets.main import SessionsTable
from ccr.core.config import parse_settings
from ccr.hub import Hub
from tests.console.conftest import wait_for
from tests.e2e.test_session_control import agent_command, panes, starts
from tests.fixtures.hub import free_port
from tests.fixtures.tmux import Tmux


def live_hub(tmp_path: Path, tmux: Tmux) -> Hub:
    port = free_port()
    return Hub(parse_settings({
        "hub": {"listen": f"127.0.0.1:{port}", "data_dir": str(tmp_path / "data")},
        "executor": {"settle_ms": 100, "enter_check_ms": 80},
        "servers": [{"id": "laptop", "kind": "local", "tmux_socket": tmux.socket_name,
                     "claude_command": agent_command(tmp_path, "laptop",
                                                     f"http://127.0.0.1:{port}")}],
    }), clock=time.time)


async def test_n_starts_claude_and_x_stops_it(tmp_path: Path, tmux: Tmux,
                                              frozen_env: None) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    app = ConsoleApp(live_hub(tmp_path, tmux))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.hub.ready)
        table = app.main.query_one(SessionsTable)

        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        await pilot.press("escape")  # Cancel starts nothing
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        app.screen.query_one("#dir", Input).value = str(project)
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 1, within=30)
        [start] = starts(tmp_path, "laptop")
        assert start["cwd"] == str(project.resolve()) and panes(tmux) == {start["pane"]: "ccr"}

        table.focus()
        table.move_cursor(row=0)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "laptop:1" in str(app.screen.query_one("#question").render())
        await pilot.press("n")  # no: nothing happens
        await pilot.pause(0.3)
        assert table.row_count == 1 and panes(tmux) == {start["pane"]: "ccr"}

        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 0, within=20)
        # Claude's SessionEnd takes the row away at once; the window closes right after
        await wait_for(pilot, lambda: panes(tmux) == {}, within=10)
        assert await app.hub.sessions.live() == []


async def test_x_without_a_session_says_what_to_do(tmp_path: Path, tmux: Tmux,
                                                   frozen_env: None) -> None:
    app = ConsoleApp(live_hub(tmp_path, tmux), start_http=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.hub.ready)
        await pilot.press("x")
        await pilot.pause(0.1)
        assert isinstance(app.screen, MainScreen)
        assert any("Select a session first" in str(n.message)
                   for n in app._notifications)
