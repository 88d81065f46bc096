"""One command in full: its text, Claude's reply, and each state it went through."""

from __future__ import annotations

import time

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ccr.console.widgets.history.table import STATE_STYLE
from ccr.core.durations import duration
from ccr.services.history import HistoryDetail


class CommandDetail(Widget):
    """Renders a `HistoryDetail` (already masked by the history service)."""

    DEFAULT_CSS = """
    CommandDetail {
        height: auto;
    }
    """

    detail: reactive[HistoryDetail | None] = reactive(None, layout=True)

    def render(self) -> Text:
        d = self.detail
        if d is None:
            return Text("Press Enter on a command to see it in full.", style="dim")
        c = d.command
        out = Text()
        out.append(f"{c.id}", style="bold")
        out.append(f" · {c.handle} · ", style="dim")
        out.append(c.state.value, style=STATE_STYLE.get(c.state, "cyan"))
        out.append(f" · took {duration(c.duration)} · from {c.source}", style="dim")
        if c.trace_id:
            out.append(f" · trace {c.trace_id[:12]}", style="dim")
        out.append("\n\nText\n", style="bold")
        out.append(c.text)
        if c.error_text:
            out.append(f"\n\nError {c.error_code or ''}\n", style="bold red")
            out.append(c.error_text, style="red")
        if d.activity:
            out.append("\n\nClaude's steps ", style="bold")
            out.append(d.activity)
        out.append("\n\nClaude's reply\n", style="bold")
        out.append(c.reply or "(none)", style="" if c.reply else "dim")
        out.append("\n\nTransitions", style="bold")
        for state, at, why in d.transitions:
            out.append("\n" + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)),
                       style="dim")
            out.append(f"  {state}")
            if why:
                out.append(f"  {why}", style="dim")
        return out
