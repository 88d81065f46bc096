"""Where the operator types text for the selected session."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from ccr.core.models import Session


class SendBar(Input):
    """An input bound to the selected session; Enter asks the app to send its text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.focus_sessions", "Back to sessions"),
    ]

    class Send(Message):
        def __init__(self, session: Session, text: str) -> None:
            super().__init__()
            self.session = session
            self.text = text

    def __init__(self, **kwargs: object) -> None:
        super().__init__(placeholder="Select a session, then type here and press Enter",
                         **kwargs)  # type: ignore[arg-type]
        self.session: Session | None = None

    def target(self, session: Session | None) -> None:
        self.session = session
        self.placeholder = (f"Type into {session.handle} ({session.project_name}) and press Enter"
                            if session else "Select a session, then type here and press Enter")
        self.border_title = f"send to {session.handle}" if session else "send"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.session is None:
            self.notify("Select a session first (arrow keys in the sessions table).",
                        severity="warning")
            return
        if not event.value.strip():
            return
        self.post_message(self.Send(self.session, event.value))
        self.value = ""
