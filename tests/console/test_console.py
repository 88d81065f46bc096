"""The console driven with Pilot: hub events show up live; the send bar types into the pane."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from ccr.console.app import ConsoleApp
from ccr.console.widgets import ActivityLog, SendBar, ServersTable, SessionDetail, SessionsTable
from tests.console.conftest import hook_event, make_hub, wait_for
from tests.fixtures.tmux import Tmux


def cell_texts(table: DataTable[object]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_servers_show_their_state(console: ConsoleApp) -> None:
    async with console.run_test(size=(120, 36)) as pilot:
        table = console.query_one(ServersTable)
        await wait_for(pilot, lambda: console.hub.server_state["laptop"][0] != "unknown")
        await pilot.pause(0.05)
        row = cell_texts(table)[0]
        assert row[0] == "laptop" and row[3] == "up" and row[4].startswith("tmux ")


async def test_hook_events_appear_live(console: ConsoleApp) -> None:
    async with console.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: console.hub.ready)
        await console.hub.sessions.ingest(hook_event(reply="I fixed cart.py."))
        sessions = console.query_one(SessionsTable)
        await wait_for(pilot, lambda: sessions.row_count == 1)
        row = cell_texts(sessions)[0]
        assert row[0] == "laptop:1" and row[2] == "shop" and row[3] == "stop"
        detail = console.query_one(SessionDetail)
        await wait_for(pilot, lambda: detail.session is not None)
        assert "I fixed cart.py." in str(detail.render())
        log = console.query_one(ActivityLog)
        assert any("laptop:1 stop (new session)" in line.text for line in log.lines)
        # A second event from the same pane updates the row instead of adding one.
        await console.hub.sessions.ingest(hook_event(name="Notification", ntype="permission_prompt",
                                                     message="Claude needs your permission"))
        await wait_for(pilot, lambda: cell_texts(sessions)[0][3] == "waiting")
        assert sessions.row_count == 1


async def test_send_bar_types_into_the_selected_pane(tmp_path: Path, tmux: Tmux,
                                                     frozen_env: None) -> None:
    pane = tmux.new_session("agent", ["cat"])
    app = ConsoleApp(make_hub(tmp_path, tmux, frozen=False), start_http=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.hub.ready)
        await app.hub.sessions.ingest(hook_event(pane=pane))
        bar = app.query_one(SendBar)
        await wait_for(pilot, lambda: bar.session is not None)
        await pilot.press("slash")
        assert bar.has_focus
        for key in "echo hi; $(x)":
            await pilot.press(key if key != " " else "space")
        await pilot.press("enter")
        await tmux.await_text(pane, "echo hi; $(x)", timeout=10)
        commands = await app.hub.commands.recent()
        await wait_for(pilot, lambda: bar.value == "")
        assert commands and commands[0].text == "echo hi; $(x)" and commands[0].source == "console"
        # Claude answers (its Stop names the prompt): the console says so.
        await app.hub.sessions.ingest(hook_event(pane=pane, prompt="echo hi; $(x)",
                                                 reply="Printed hi."))
        await wait_for(pilot, lambda: any("answered in" in (n.title or "")
                                          and "Printed hi." in n.message
                                          for n in app._notifications))


async def test_send_without_a_session_says_what_to_do(console: ConsoleApp) -> None:
    async with console.run_test(size=(120, 36)) as pilot:
        await pilot.press("slash", "h", "i", "enter")
        await pilot.pause(0.1)
        assert any("Select a session first" in str(n.message) for n in console._notifications)


async def test_an_open_breaker_shows_on_its_server(console: ConsoleApp) -> None:
    async with console.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: console.hub.ready)
        # The first probe's success would reset the count: let it land first.
        await wait_for(pilot, lambda: console.hub.server_state["laptop"][0] != "unknown")
        board = console.hub.breakers
        assert board is not None
        for _ in range(5):
            await board.failure("laptop", "Cannot reach laptop")
        table = console.query_one(ServersTable)
        await wait_for(pilot, lambda: cell_texts(table)[0][3] == "open")
        assert "next try" in cell_texts(table)[0][4]


async def test_a_lost_pane_shows_on_its_session(console: ConsoleApp) -> None:
    async with console.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: console.hub.ready)
        await console.hub.sessions.ingest(hook_event(pane="%999"))  # no such pane
        sessions = console.query_one(SessionsTable)
        await wait_for(pilot, lambda: sessions.row_count == 1)
        await console.hub.recovery.check()
        await wait_for(pilot, lambda: cell_texts(sessions)[0][3] == "lost")
        log = console.query_one(ActivityLog)
        assert any("laptop:1 lost" in line.text for line in log.lines)
