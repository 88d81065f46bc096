"""`ccr trace [ID]`: a trace's timeline from the running hub, or its recent traces."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ccr.cli.common import ConfigOpt, api_call, out

BAR = 24


def ms(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def bar(offset: float, duration: float, total: float, status: str) -> Text:
    """Where a span sits in the trace, as a bar of BAR cells."""
    total = total or 1.0
    start = min(BAR - 1, int(offset / total * BAR))
    width = max(1, round(duration / total * BAR))
    width = min(width, BAR - start)
    return Text(" " * start + "█" * width + " " * (BAR - start - width),
                style="red" if status == "error" else "cyan")


def timeline_table(t: dict[str, Any]) -> Table:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t["start"]))
    title = (f"trace {t['trace_id']} · {when} · {ms(t['duration_ms'])} · "
             f"{len(t['spans'])} spans" + (f" · {t['errors']} failed" if t["errors"] else ""))
    table = Table("span", "component", "server", "start", "took", "status", "timeline",
                  title=title, title_justify="left", highlight=False)
    for s in t["spans"]:
        indent = "  " * max(0, s["depth"] - 1) + ("└ " if s["depth"] else "")
        status = Text(s["status"], style="bold red" if s["status"] == "error" else "green")
        name = s["name"]
        problem = s["attributes"].get("ccr.error")
        if problem:
            name += f" ({problem})"
        table.add_row(indent + name, s["component"], s["server"] or "",
                      f"+{ms(s['offset_ms'])}", ms(s["duration_ms"]), status,
                      bar(s["offset_ms"], s["duration_ms"], t["duration_ms"], s["status"]))
    return table


def recent_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("trace", "started", "what", "server", "took", "spans", "errors",
                  title="Recent traces", title_justify="left", highlight=False)
    for r in rows:
        table.add_row(r["short"], time.strftime("%H:%M:%S", time.localtime(r["start"])),
                      r["name"], r["server"] or "", ms(r["duration_ms"]), str(r["spans"]),
                      Text(str(r["errors"]), style="bold red" if r["errors"] else ""))
    return table


def trace(
    trace_id: Annotated[str | None, typer.Argument(
        help="Trace id, or its first 8-12 characters as quoted in an error. "
             "Without it: the recent traces.", show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="How many recent traces to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Show a trace's timeline: each span's offset, duration, component and status."""
    if trace_id is None:
        rows = api_call(config, "GET", "/api/traces", params={"limit": limit})["traces"]
        if as_json:
            out.print_json(json.dumps(rows))
        elif not rows:
            out.print("No traces yet: every hook event and every command starts one.")
        else:
            out.print(recent_table(rows))
            out.print("[dim]Show one with `ccr trace ID`.[/]")
        return
    t = api_call(config, "GET", f"/api/traces/{trace_id.strip()}")["trace"]
    if as_json:
        out.print_json(json.dumps(t))
        return
    out.print(timeline_table(t))
