"""SVG snapshots of each console screen and state (update with `pytest --snapshot-update`).

The states live in tests/console/states.py, shared with scripts/screenshots.py; the clock
and the time zone are frozen (conftest), so the pictures do not move. A picture that
changed fails with the screen lines that differ (tests/console/svgdiff.py).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import node_to_report_path

from ccr.console.app import ConsoleApp
from tests.console.conftest import make_hub
from tests.console.states import STATES
from tests.console.svgdiff import explain
from tests.fixtures.tmux import Tmux

Snap = Callable[[str, tuple[int, int]], None]


@pytest.fixture
def snap(snap_compare: Any, request: pytest.FixtureRequest, tmp_path: Path, tmux: Tmux,
         frozen_env: None) -> Snap:
    """Play a state on a fresh hub at a terminal size and compare the picture."""

    def shoot(state: str, size: tuple[int, int]) -> None:
        hub = make_hub(tmp_path, tmux)
        chosen = STATES[state]
        if chosen.prepare is not None:
            chosen.prepare(hub)
        app = ConsoleApp(hub, start_http=False)
        if snap_compare(app, terminal_size=size, run_before=chosen.play):
            return
        # The plugin pickled both pictures for its HTML report, which CI does not keep.
        saved = node_to_report_path(request.node)
        data = pickle.loads(saved.read_bytes()) if saved.exists() else None
        why = explain(str(data[1]), str(data[2])) if data and data[1] else "no stored picture"
        pytest.fail(f"the {state!r} picture at {size[0]}x{size[1]} changed; {why}",
                    pytrace=False)

    return shoot


def test_empty_console(snap: Snap) -> None:
    snap("console-empty", (120, 36))


def test_console_with_sessions(snap: Snap) -> None:
    snap("console-sessions", (120, 36))


def test_console_small_terminal(snap: Snap) -> None:
    snap("console-sessions", (80, 24))


@pytest.mark.parametrize("state", ["metrics", "breakers", "dead-letters", "dead-letters-retry",
                                   "alerts", "traces", "history", "audit"])
def test_operator_screen_80x24(snap: Snap, state: str) -> None:
    snap(state, (80, 24))


@pytest.mark.parametrize("state", ["metrics", "alerts", "traces", "history", "audit"])
def test_operator_screen_200x60(snap: Snap, state: str) -> None:
    snap(state, (200, 60))


@pytest.mark.parametrize("state", ["new-session", "stop-session"])
def test_session_dialogs_80x24(snap: Snap, state: str) -> None:
    snap(state, (80, 24))


@pytest.mark.parametrize("size", [(200, 60), (80, 24)], ids=["200x60", "80x24"])
def test_overview(snap: Snap, size: tuple[int, int]) -> None:
    """The first screen on a big terminal; on a small one it is reached by `0` and stacks."""
    snap("overview", size)
