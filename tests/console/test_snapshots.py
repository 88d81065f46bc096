"""SVG snapshots of each console screen and state (update with `pytest --snapshot-update`).

The states live in tests/console/states.py, shared with scripts/screenshots.py; the clock
and the time zone are frozen (conftest), so the pictures do not move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ccr.console.app import ConsoleApp
from tests.console.conftest import make_hub
from tests.console.states import STATES
from tests.fixtures.tmux import Tmux


def snap(snap_compare: Any, tmp_path: Path, tmux: Tmux, state: str,
         size: tuple[int, int]) -> bool:
    hub = make_hub(tmp_path, tmux)
    chosen = STATES[state]
    if chosen.prepare is not None:
        chosen.prepare(hub)
    app = ConsoleApp(hub, start_http=False)
    return bool(snap_compare(app, terminal_size=size, run_before=chosen.play))


def test_empty_console(snap_compare: Any, tmp_path: Path, tmux: Tmux, frozen_env: None) -> None:
    assert snap(snap_compare, tmp_path, tmux, "console-empty", (120, 36))


def test_console_with_sessions(snap_compare: Any, tmp_path: Path, tmux: Tmux,
                               frozen_env: None) -> None:
    assert snap(snap_compare, tmp_path, tmux, "console-sessions", (120, 36))


def test_console_small_terminal(snap_compare: Any, tmp_path: Path, tmux: Tmux,
                                frozen_env: None) -> None:
    assert snap(snap_compare, tmp_path, tmux, "console-sessions", (80, 24))


@pytest.mark.parametrize("state", ["metrics", "breakers", "dead-letters", "dead-letters-retry",
                                   "alerts", "traces", "history", "audit"])
def test_operator_screen_80x24(snap_compare: Any, tmp_path: Path, tmux: Tmux,
                               frozen_env: None, state: str) -> None:
    assert snap(snap_compare, tmp_path, tmux, state, (80, 24))


@pytest.mark.parametrize("state", ["metrics", "alerts", "traces", "history", "audit"])
def test_operator_screen_200x60(snap_compare: Any, tmp_path: Path, tmux: Tmux,
                                frozen_env: None, state: str) -> None:
    assert snap(snap_compare, tmp_path, tmux, state, (200, 60))


@pytest.mark.parametrize("state", ["new-session", "stop-session"])
def test_session_dialogs_80x24(snap_compare: Any, tmp_path: Path, tmux: Tmux,
                               frozen_env: None, state: str) -> None:
    assert snap(snap_compare, tmp_path, tmux, state, (80, 24))


@pytest.mark.parametrize("size", [(200, 60), (80, 24)], ids=["200x60", "80x24"])
def test_overview(snap_compare: Any, tmp_path: Path, tmux: Tmux, frozen_env: None,
                  size: tuple[int, int]) -> None:
    """The first screen on a big terminal; on a small one it is reached by `0` and stacks."""
    assert snap(snap_compare, tmp_path, tmux, "overview", size)
