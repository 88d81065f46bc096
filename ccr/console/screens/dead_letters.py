"""Dead letters: Telegram messages whose tries are spent, why, and when they go again.

The list is re-read whenever a dead-letter event says it changed; `r` retries the selected
entry now (after asking), through the same DLQ service as `ccr dlq retry` and the API.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, Static

from ccr.console.screens.base import OperatorScreen
from ccr.console.widgets.deadletters import DeadLettersTable
from ccr.core.errors import CcrError
from ccr.core.events import (
    DeadLetterArchived,
    DeadLetterDelivered,
    DeadLettered,
    DeadLetterRetried,
    DeadLettersPurged,
)
from ccr.services.audit import CONSOLE
from ccr.services.dead_letters import view

CHANGES = (DeadLettered, DeadLetterRetried, DeadLetterDelivered, DeadLetterArchived,
           DeadLettersPurged)


class DeadLettersScreen(OperatorScreen[list[dict[str, Any]]]):
    """The dead-letter queue, live, with a retry by hand."""

    CSS_PATH = "operator.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
    ]
    reload_on = CHANGES

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="explain", classes="explain")
        yield DeadLettersTable(id="dead-letters")
        yield Static("The queue is empty: every message was delivered.", id="empty",
                     classes="empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        schedule = self.hub.dlq.schedule
        self.query_one(DeadLettersTable).border_title = "dead letters"
        self.query_one("#explain", Static).update(
            f"A message whose {self.hub.settings.reliability.telegram_attempts} tries failed "
            f"waits here and is tried again after {schedule.base_s:g} s, then twice as long "
            f"each cycle, {schedule.cycles} cycles; then it is archived and the admins are "
            f"told. r: retry the selected one now.")

    async def load(self) -> list[dict[str, Any]]:
        return [view(e, self.hub.dlq.schedule) for e in await self.hub.dlq.list()]

    def show(self, views: list[dict[str, Any]]) -> None:
        table = self.query_one(DeadLettersTable)
        table.show(views, self.hub.clock())
        table.border_title = f"dead letters ({len(views)})"
        table.display = bool(views)
        self.query_one("#empty").display = not views

    def action_retry(self) -> None:
        entry = self.query_one(DeadLettersTable).selected
        if entry is None:
            self.notify("Nothing to retry: the queue is empty.", severity="warning")
            return
        self.ask(f"Send dead letter {entry['id']} ({entry['what']}) to chat {entry['chat_id']} "
                 f"again now?", "Retry", lambda: self.retry(int(entry["id"])))

    @work(group="dlq-retry")
    async def retry(self, entry_id: int) -> None:
        try:
            async with self.hub.audit.acting(CONSOLE, "dlq.retry",
                                             f"retry dead letter {entry_id}"):
                result = await self.hub.dlq.retry(entry_id)
        except CcrError as exc:
            self.notify(str(exc), title=f"dead letter {entry_id}", severity="error")
            return
        if result.moved:
            self.notify(f"Dead letter {entry_id} is back in the outbox.", timeout=4)
        else:
            self.notify(f"Dead letter {entry_id} is already {result.entry.state}.",
                        severity="warning")
