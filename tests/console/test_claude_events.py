"""The console on newer Claude Code events: a logged-out Claude on the alerts screen (and
acknowledged from there), gone once Claude answers again; an ended session off the sessions
table until Claude Code runs in its pane again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ccr.console.app import ConsoleApp
from ccr.console.screens import AlertsScreen
from ccr.console.widgets.alerts import AlertsTable
from ccr.console.widgets.main.sessions import SessionsTable
from ccr.core.models import HookEvent
from ccr.services.sessions import classify
from tests.console.conftest import hook_event, make_hub, wait_for
from tests.console.states import settled
from tests.console.test_console import cell_texts
from tests.fixtures.tmux import Tmux


async def test_a_logged_out_claude_is_an_alert_on_the_alerts_screen(
        tmp_path: Path, tmux: Tmux, frozen_env: None) -> None:
    hub = make_hub(tmp_path, tmux)
    app = ConsoleApp(hub, start_http=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        table = screen.query_one(AlertsTable)
        failure = dataclasses.replace(
            hook_event(reply="Invalid API key · Fix external API key"),
            kind=classify("StopFailure", None, None), hook_event_name="StopFailure",
            error="authentication_failed")
        await hub.sessions.ingest(failure)
        # The rules look at once (no waiting for the 15 s interval).
        await wait_for(pilot, lambda: table.row_count == 1)
        row = cell_texts(table)[0]
        assert row[1:3] == ["claude_logged_out", "laptop"] and row[4] == "firing"
        assert "Claude Code on laptop is logged out" in row[6]
        detail = str(screen.query_one("#alert-detail").render())
        assert "run `claude /login` on laptop" in detail
        await pilot.press("a")
        await pilot.press("y")
        await wait_for(pilot, lambda: cell_texts(table)[0][4] == "acknowledged")
        # Claude answers on laptop again: the alert resolves and leaves the screen.
        await hub.sessions.ingest(hook_event(reply="Tests pass now."))
        await wait_for(pilot, lambda: table.row_count == 0)
        assert screen.query_one("#empty").display


async def test_an_ended_session_leaves_the_sessions_table_and_comes_back(
        console: ConsoleApp) -> None:
    async with console.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        table = console.query_one(SessionsTable)
        await console.hub.sessions.ingest(hook_event(reply="Tests pass now."))
        await wait_for(pilot, lambda: table.row_count == 1)
        assert cell_texts(table)[0][0] == "laptop:1"

        def named(name: str, **fields: str) -> HookEvent:
            return dataclasses.replace(hook_event(reply=""), kind=classify(name, None, None),
                                       hook_event_name=name, last_reply=None, **fields)

        await console.hub.sessions.ingest(named("SessionEnd", reason="prompt_input_exit"))
        await wait_for(pilot, lambda: table.row_count == 0)
        await console.hub.sessions.ingest(named("SessionStart", source="startup"))
        await wait_for(pilot, lambda: table.row_count == 1)
        assert cell_texts(table)[0][0] == "laptop:1"
