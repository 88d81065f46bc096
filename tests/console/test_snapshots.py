"""SVG snapshots of each console state (update with `pytest --snapshot-update`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from ccr.console.app import ConsoleApp
from tests.console.conftest import hook_event, make_hub, wait_for
from tests.fixtures.tmux import Tmux


async def settled(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    await wait_for(pilot, lambda: app.hub.ready)
    await wait_for(pilot, lambda: app.hub.server_state["laptop"][0] != "unknown")
    await pilot.pause(0.1)


async def with_sessions(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    await settled(pilot)
    await app.hub.sessions.ingest(hook_event(
        pane="%1", reply="All 112 tests pass. I changed cart.py to round totals half-even "
                         "and added a regression test for the 0.005 case."))
    await app.hub.sessions.ingest(hook_event(
        pane="%2", name="Notification", cwd="/srv/api", ntype="permission_prompt",
        message="Claude needs your permission to use Bash", prompt="deploy to staging",
        reply=None or ""))
    await pilot.pause(0.2)


def test_empty_console(snap_compare: Any, tmp_path: Path, tmux: Tmux, frozen_env: None) -> None:
    app = ConsoleApp(make_hub(tmp_path, tmux), start_http=False)
    assert snap_compare(app, terminal_size=(120, 36), run_before=settled)


def test_console_with_sessions(snap_compare: Any, tmp_path: Path, tmux: Tmux,
                               frozen_env: None) -> None:
    app = ConsoleApp(make_hub(tmp_path, tmux), start_http=False)
    assert snap_compare(app, terminal_size=(120, 36), run_before=with_sessions)


def test_console_small_terminal(snap_compare: Any, tmp_path: Path, tmux: Tmux,
                                frozen_env: None) -> None:
    app = ConsoleApp(make_hub(tmp_path, tmux), start_http=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=with_sessions)
