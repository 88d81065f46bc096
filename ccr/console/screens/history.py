"""History: past commands by the filter language (ccr.services.history), one of them in full.

The list is re-read when the screen is shown, when the filter is submitted, and shortly
after a command changes state (CommandChanged); Enter on a command opens its detail.
"""

from __future__ import annotations

from functools import partial
from pathlib import PurePath
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Input

from ccr.console.screens.base import OperatorScreen
from ccr.console.widgets.history import CommandDetail, HistoryTable
from ccr.core.errors import CcrError
from ccr.core.events import CommandChanged
from ccr.services.history import HistoryDetail, HistoryPage

PAGE = 100
SETTLE_S = 0.3
"""Several changes in a burst (typed, received, done) make one re-read."""
PLACEHOLDER = "filter: laptop · laptop:1 · state:failed · words   (Enter to apply)"


class HistoryScreen(OperatorScreen[HistoryPage]):
    """A filter box, the matching commands (newest first), the opened one below."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["operator.tcss", "history.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("r", "reload", "Reload"),
    ]
    reload_on = (CommandChanged,)
    settle_s = SETTLE_S
    query_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder=PLACEHOLDER, id="filter")
        yield HistoryTable(id="history")
        with VerticalScroll(id="detail-pane"):
            yield CommandDetail(id="command-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(HistoryTable).border_title = "commands"
        self.query_one("#detail-pane").border_title = "command"
        self.query_one(HistoryTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_text = event.value.strip()
        self.query_one(HistoryTable).focus()
        self.reload()

    async def load(self) -> HistoryPage:
        return await self.hub.history.search(self.query_text, limit=PAGE)

    def load_failed(self, error: CcrError) -> None:
        self.query_one(HistoryTable).border_title = "commands: filter not valid"
        self.notify(error.message, title="history filter", severity="error", timeout=8)

    def show(self, page: HistoryPage) -> None:
        table = self.query_one(HistoryTable)
        table.show(list(page.commands))
        shown = f"{len(page.commands)} of {page.total}" if page.has_older else str(page.total)
        where = f" matching {self.query_text}" if self.query_text else ""
        table.border_title = f"commands{where} ({shown}, newest first)"
        opened = self.query_one(CommandDetail).detail
        if opened is not None and opened.command.id in {c.id for c in page.commands}:
            self.open(opened.command.id)  # its state may have moved on

    def on_history_table_opened(self, message: HistoryTable.Opened) -> None:
        self.open(message.command_id)

    def open(self, command_id: str) -> None:
        """Read one command in full and show it below the list."""
        self.fetch(partial(self.hub.history.detail, command_id), self._show_detail,
                   group="detail")

    def _show_detail(self, detail: HistoryDetail) -> None:
        self.query_one(CommandDetail).detail = detail
        self.query_one("#detail-pane").border_title = f"command {detail.command.id}"
