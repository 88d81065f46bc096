"""The small dialog behind `n` on the main screen: which server, which directory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Select, Static

RecentDirs = Callable[[str], Awaitable[list[str]]]


class NewSessionScreen(ModalScreen[tuple[str, str] | None]):
    """Dismissed with (server, directory) on Start (Enter in the directory box), None on
    Escape or Cancel. The directories used on the chosen server before are listed and
    complete what is typed."""

    CSS_PATH = "new_session.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, servers: list[str], recent: RecentDirs) -> None:
        super().__init__()
        self.servers = servers
        self.recent = recent

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("[b]Start Claude[/b] in a new tmux window", id="title")
            with Horizontal(classes="row"):
                yield Label("Server", classes="label")
                yield Select([(s, s) for s in self.servers], allow_blank=False,
                             value=self.servers[0], id="server")
            with Horizontal(classes="row"):
                yield Label("Directory", classes="label")
                yield Input(placeholder="~/src/app, or an absolute path", id="dir")
            yield Static("", id="recent")
            with Horizontal(id="buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#dir", Input).focus()
        self.load_recent(self.servers[0])

    @on(Select.Changed, "#server")
    def server_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.load_recent(event.value)

    @work(exclusive=True, group="recent")
    async def load_recent(self, server: str) -> None:
        dirs = await self.recent(server)
        if not self.is_attached:  # answered (or cancelled) while they were read
            return
        self.query_one("#dir", Input).suggester = SuggestFromList(dirs, case_sensitive=True)
        shown = " · ".join(dirs[:4]) if dirs else "none yet"
        self.query_one("#recent", Static).update(Text(f"Used on {server}: {shown}", style="dim"))

    @on(Input.Submitted, "#dir")
    def submitted(self) -> None:
        self._start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start":
            self._start()
        else:
            self.dismiss(None)

    def _start(self) -> None:
        server = self.query_one("#server", Select).value
        directory = self.query_one("#dir", Input).value.strip() or "~"
        if isinstance(server, str):
            self.dismiss((server, directory))

    def action_cancel(self) -> None:
        self.dismiss(None)
