"""The audit screen (key 8) with Pilot on a real hub: what the console itself does is
recorded with `console` as the actor and appears on the screen as it happens."""

from __future__ import annotations

from pathlib import Path

from ccr.console.app import ConsoleApp
from ccr.console.screens import AuditScreen, ConfirmScreen, DeadLettersScreen
from ccr.console.widgets.audit import AuditTable
from ccr.console.widgets.deadletters import DeadLettersTable
from tests.console.conftest import make_hub, wait_for
from tests.console.states import FailingSender, enqueue, settled
from tests.console.test_console import cell_texts
from tests.fixtures.tmux import Tmux


async def test_a_console_retry_appears_once_on_the_audit_screen(tmp_path: Path, tmux: Tmux,
                                                                frozen_env: None) -> None:
    hub = make_hub(tmp_path, tmux)
    sender = FailingSender()
    hub.delivery.sender = sender
    app = ConsoleApp(hub, start_http=False)
    async with app.run_test(size=(160, 36)) as pilot:
        await settled(pilot)
        await pilot.press("8")
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        table = screen.query_one(AuditTable)
        await wait_for(pilot, lambda: screen.query_one("#audit-empty").display)
        assert table.row_count == 0
        await pilot.press("4")
        dlq = app.screen
        assert isinstance(dlq, DeadLettersScreen)
        await enqueue(hub, 4242, "laptop:1 finished")
        await wait_for(pilot, lambda: dlq.query_one(DeadLettersTable).row_count == 1)
        entry_id = (await hub.dlq.list())[0].id
        sender.down = False
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: dlq.query_one(DeadLettersTable).row_count == 0)
        await pilot.press("8")
        await wait_for(pilot, lambda: table.row_count == 1)
        row = cell_texts(table)[0]
        assert row[1:5] == ["console", "console", "dlq.retry", "-"]
        assert row[5] == f"retry dead letter {entry_id}"
        assert row[6] == f"dead letter {entry_id} back in line"
        assert not screen.query_one("#audit-empty").display
        assert "1 entries" in str(table.border_title)
        # Shown again: read again, still one entry (nothing is recorded twice).
        await pilot.press("1")
        await pilot.press("8")
        await pilot.press("r")
        await wait_for(pilot, lambda: len(table.entries) == 1)
        assert len(await hub.audit.recent()) == 1
