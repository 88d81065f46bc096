"""The history screen driven with Pilot on a real hub: the list, the filter language, the
detail with transitions, secrets masked, and a new command appearing from a hub event."""

from __future__ import annotations

from pathlib import Path

from ccr.console.app import ConsoleApp
from ccr.console.screens import HistoryScreen
from ccr.console.widgets.history import CommandDetail, HistoryTable
from ccr.core.events import CommandChanged
from ccr.core.models import CommandState
from ccr.store import activity
from ccr.store import commands as rows
from tests.console.conftest import FROZEN, make_hub, wait_for
from tests.console.states import HISTORY, settled, write_history
from tests.console.test_console import cell_texts
from tests.fixtures.tmux import Tmux


async def test_history_filters_opens_detail_and_follows_events(tmp_path: Path, tmux: Tmux,
                                                               frozen_env: None) -> None:
    hub = make_hub(tmp_path, tmux)
    app = ConsoleApp(hub, start_http=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settled(pilot)
        await write_history(hub)
        await pilot.press("7")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        table = screen.query_one(HistoryTable)
        await wait_for(pilot, lambda: table.row_count == len(HISTORY))
        texts = [r[4] for r in cell_texts(table)]
        assert texts[0] == "summarize the open pull requests"  # newest first
        assert not any("sk-live-abcdef0123456789abcdef" in t for t in texts)
        assert any(t.startswith("export API_TOKEN=") for t in texts)

        await pilot.press("slash")
        await pilot.press(*"state:failed laptop:2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert [(r[1], r[2]) for r in cell_texts(table)] == [("laptop:2", "failed")]
        failed = await hub.db.fetchone("SELECT id FROM commands WHERE state = 'failed'")
        assert failed is not None
        async with hub.db.transaction() as conn:  # Claude's steps, as its tool hooks left them
            await activity.started(conn, failed["id"], tool="Read", subject="deploy.md",
                                   tool_use_id="t1", now=FROZEN)
            await activity.ended(conn, failed["id"], tool="Bash", subject="make deploy",
                                 tool_use_id="t2", error="Exit code 2", now=FROZEN)
        await pilot.press("enter")  # the table has the focus back: open the command
        detail = screen.query_one(CommandDetail)
        await wait_for(pilot, lambda: detail.detail is not None)
        shown = detail.render().plain
        assert "deploy to staging" in shown and "pane_gone" in shown
        assert "Claude's steps 2 steps: 1 Bash, 1 Read · 1 failed" in shown
        steps = shown.split("Transitions", 1)[1]
        assert [line.split()[2] for line in steps.strip().splitlines()] == \
            ["pending", "executing", "failed"]

        await pilot.press("slash", "ctrl+a", "ctrl+k")
        await pilot.press(*"state:bogus", "enter")
        await wait_for(pilot, lambda: "not valid" in str(table.border_title))
        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")
        await wait_for(pilot, lambda: table.row_count == len(HISTORY))

        session = await hub.sessions.resolve("laptop:1")
        async with hub.db.transaction() as conn:
            new = await rows.insert(conn, command_id="c0fresh0001", session_id=session.id,
                                    text="a brand new command", source="console",
                                    chat_id=None, reply_to=None, now=FROZEN + 1)
        hub.bus.publish(CommandChanged(new))
        await wait_for(pilot, lambda: table.row_count == len(HISTORY) + 1)
        assert cell_texts(table)[0][4] == "a brand new command"
        assert cell_texts(table)[0][2] == CommandState.PENDING.value
