"""The overview on a real hub (no HTTP), real SQLite, a real tmux pane: first screen on a big
terminal, everything live from hub events, the selected pane refreshed while shown; and the
command palette finding sessions, servers and screens by name."""

from __future__ import annotations

import time
from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import Input, OptionList

from ccr.console.app import ConsoleApp
from ccr.console.screens import OverviewScreen
from ccr.console.widgets.main import SessionDetail, SessionsTable
from ccr.console.widgets.overview import PaneView, Plot, Table
from tests.console.conftest import hook_event, make_hub, wait_for
from tests.console.states import open_breaker
from tests.fixtures.tmux import Tmux


def text_of(widget: PaneView) -> str:
    return str(widget.render())


def cells(table: Table) -> list[str]:
    return [" ".join(row) for row in table.shown]


async def test_overview_is_the_first_screen_on_a_big_terminal_only(
        tmp_path: Path, tmux: Tmux, frozen_env: None) -> None:
    for size, first in (((200, 60), "overview"), ((160, 45), "overview"),
                        ((159, 60), "main"), ((120, 36), "main")):
        app = ConsoleApp(make_hub(tmp_path / f"{size[0]}x{size[1]}", tmux), start_http=False)
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda app=app: app.started)
            assert app.current_mode == first
            await pilot.press("0")
            await wait_for(pilot, lambda app=app: isinstance(app.screen, OverviewScreen))
            await pilot.press("1")
            await wait_for(pilot, lambda app=app: app.current_mode == "main")


async def test_overview_shows_the_fleet_and_the_selected_pane_live(
        tmp_path: Path, tmux: Tmux, frozen_env: None) -> None:
    pane = tmux.new_session("agent", ["cat"])
    app = ConsoleApp(make_hub(tmp_path, tmux, clock=time.time), start_http=False)
    async with app.run_test(size=(200, 60)) as pilot:
        screen = app.overview
        await wait_for(pilot, lambda: app.started)
        servers = screen.query_one("#ov-servers", Table)
        await wait_for(pilot, lambda: [r[:4] for r in servers.shown]
                       == [("laptop", "local", "up", "closed")])
        # A session reports: it is listed, and its pane and last exchange show beside.
        await app.hub.sessions.ingest(hook_event(pane=pane, prompt="run the tests",
                                                 reply="All tests pass."))
        sessions = screen.query_one(SessionsTable)
        await wait_for(pilot, lambda: sessions.row_count == 1)
        detail = screen.query_one(SessionDetail)
        await wait_for(pilot, lambda: detail.session is not None)
        assert "All tests pass." in str(detail.render())
        # A command typed from the console: the pane shows it (the 1 s capture), and the
        # latest commands list has it.
        await app.hub.commands.submit(text="echo typed-by-ccr", session_id=sessions.selected.id,
                                      source="console")
        view = screen.query_one(PaneView)
        await wait_for(pilot, lambda: "typed-by-ccr" in text_of(view), within=15)
        commands = screen.query_one("#ov-commands", Table)
        await wait_for(pilot, lambda: any("echo typed-by-ccr" in c for c in cells(commands)))
        # The pane keeps changing: the overview follows it while it is shown ...
        tmux.run("send-keys", "-t", pane, "-l", "later-line")
        tmux.run("send-keys", "-t", pane, "Enter")
        await wait_for(pilot, lambda: "later-line" in text_of(view), within=15)
        # ... and stops reading it when another screen is in front.
        await pilot.press("2")
        captured = screen.pane_shown
        await pilot.pause(2.5)
        assert screen.pane_shown == captured
        await pilot.press("0")
        await wait_for(pilot, lambda: screen.pane_shown > captured)
        # A breaker opens: its server row says so; an alert fires: it is listed.
        await open_breaker(app.hub)
        await wait_for(pilot, lambda: "open" in cells(servers)[0].split())
        await app.hub.alerts.evaluate()
        alerts = screen.query_one("#ov-alerts", Table)
        await wait_for(pilot, lambda: any("firing" in c for c in cells(alerts)))
        assert screen.query_one("#plot-commands", Plot).points  # a point per 10 s bucket


async def test_the_palette_finds_sessions_servers_and_screens(
        tmp_path: Path, tmux: Tmux, frozen_env: None) -> None:
    app = ConsoleApp(make_hub(tmp_path, tmux), start_http=False)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, lambda: app.started)
        for pane, cwd in (("%1", "/home/ana/shop"), ("%2", "/srv/api")):
            await app.hub.sessions.ingest(hook_event(pane=pane, cwd=cwd))
        table = app.overview.query_one(SessionsTable)
        await wait_for(pilot, lambda: table.row_count == 2)

        async def choose(query: str, expected: str) -> None:
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
            app.screen.query_one(Input).value = query
            hits = app.screen.query_one(OptionList)

            def first() -> str:
                return str(hits.get_option_at_index(0).prompt) if hits.option_count else ""

            try:
                await wait_for(pilot, lambda: expected in first(), within=30)
            except AssertionError:
                listed = [str(hits.get_option_at_index(i).prompt)
                          for i in range(hits.option_count)]
                raise AssertionError(f"{query!r}: first hit not {expected!r}: {listed}") from None
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))

        await choose("session api", "Session laptop:2 · api · /srv/api")
        await wait_for(pilot, lambda: table.selected is not None
                       and table.selected.handle == "laptop:2")
        await choose("show metrics", "Show Metrics")
        assert app.current_mode == "metrics"
        await choose("server laptop", "Server laptop · local")
        assert app.current_mode == "breakers"
        await choose("session shop", "Session laptop:1 · shop")
        assert app.current_mode == "overview" and table.selected.handle == "laptop:1"
