"""One trace as a timeline: a row per span, indented under its parent, with a bar placed at
its offset and as long as its duration; spans that failed are red and say their error."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ccr.console.widgets.traces.table import duration

NAME_WIDTH = 26
TIME_WIDTH = 20


class TraceTimeline(Widget):
    """Renders `Tracing.timeline()` data; the bars scale to the widget's width."""

    DEFAULT_CSS = """
    TraceTimeline {
        height: auto;
    }
    """

    timeline: reactive[dict[str, Any] | None] = reactive(None, layout=True)

    def render(self) -> Text:
        data = self.timeline
        if data is None:
            return Text("Select a trace above to see its timeline.", style="dim")
        total = max(float(data["duration_ms"]), 0.001)
        bar_width = max(8, self.size.width - NAME_WIDTH - TIME_WIDTH - 2)
        out = Text()
        errors = int(data["errors"])
        out.append(f"trace {data['trace_id']}", style="bold")
        out.append(f" · {duration(total)} · {len(data['spans'])} spans", style="dim")
        out.append(f" · {errors} error(s)" if errors else " · no errors",
                   style="bold red" if errors else "dim")
        for span in data["spans"]:
            out.append("\n")
            failed = span["status"] == "error"
            name = "  " * int(span["depth"]) + str(span["name"])
            if len(name) > NAME_WIDTH - 1:
                name = name[: NAME_WIDTH - 2] + "…"
            out.append(name.ljust(NAME_WIDTH), style="bold red" if failed else "")
            start = int(float(span["offset_ms"]) / total * bar_width)
            length = max(1, round(float(span["duration_ms"]) / total * bar_width))
            start = min(start, bar_width - 1)
            length = min(length, bar_width - start)
            out.append(" " * start)
            out.append("█" * length, style="red" if failed else _colour(span["component"]))
            out.append(" " * (bar_width - start - length) + " ")
            took = f"+{duration(float(span['offset_ms']))} {duration(float(span['duration_ms']))}"
            out.append(took.rjust(TIME_WIDTH), style="bold red" if failed else "dim")
            if failed:
                error = span["attributes"].get("ccr.error") or "error"
                out.append(f"\n{'':{NAME_WIDTH}}↳ {error}", style="red")
        return out


COMPONENT_COLOURS = {"hook": "bright_cyan", "ingest": "cyan", "store": "bright_black",
                     "outbox": "blue", "delivery": "blue", "telegram": "blue",
                     "command": "green", "ssh": "green", "breaker": "yellow"}


def _colour(component: str) -> str:
    return COMPONENT_COLOURS.get(component, "bright_black")
