"""`ccr history [FILTERS...]` and `ccr history show ID`: past commands from the running hub."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ccr.cli.common import ConfigOpt, api_call, out
from ccr.core.durations import duration

STATE_STYLE = {"completed": "green", "failed": "bold red", "timeout": "red",
               "uncertain": "yellow", "cancelled": "dim", "pending": "cyan",
               "dispatching": "cyan", "executing": "cyan"}
HELP = """Search past commands (kept \\[commands] history_days days), newest first.

Filters, in any order, combined (all must hold):

  laptop           a server's commands (a server id from ccr.toml)
  laptop:1         one session's commands
  state:failed     a state (or is:failed); several: state:failed,timeout.
                   States: pending, dispatching, executing, completed, failed, timeout,
                   cancelled, uncertain; phases: running, executing, done
  other words      must all occur (as word beginnings) in the command or Claude's reply

Examples: `ccr history laptop state:failed`, `ccr history deploy staging`,
`ccr history show c3f2a1b0c9d` (one command: full text, reply, every transition).
"""


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def one_line(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def list_table(data: dict[str, Any], query: str) -> Table:
    rows = data["commands"]
    first = data["offset"] + 1
    title = (f"History{f' · {query}' if query else ''} · "
             f"{first}–{first + len(rows) - 1} of {data['total']}")
    table = Table("id", "when", "session", "state", "took", "text", title=title,
                  title_justify="left", highlight=False)
    for c in rows:
        table.add_row(c["id"], when(c["created_at"]), c["session"],
                      Text(c["state"], style=STATE_STYLE.get(c["state"], "")),
                      duration(c["duration"]), one_line(c["text"]))
    return table


def show_detail(data: dict[str, Any]) -> None:
    c = data["command"]
    style = STATE_STYLE.get(c["state"], "")
    out.print(f"[bold]{c['id']}[/] · {c['session']} · "
              f"[{style}]{c['state']}[/] · took {duration(c['duration'])}",
              highlight=False)
    if c["trace_id"]:
        out.print(f"trace {c['trace_id'][:12]} (`ccr trace {c['trace_id'][:12]}`)",
                  style="dim", highlight=False)
    out.print("\n[bold]Text[/]")
    out.print(Text(c["text"]))
    if c["error"]:
        out.print(f"\n[bold red]Error[/] {c['error_code'] or ''}")
        out.print(Text(c["error"]))
    if data.get("activity"):
        out.print(f"\n[bold]Claude's steps[/] {escape(data['activity'])}", highlight=False)
    out.print("\n[bold]Claude's reply[/]")
    out.print(Text(c["reply"]) if c["reply"] else Text("(none)", style="dim"))
    steps = Table("state", "at", "detail", title="Transitions", title_justify="left",
                  highlight=False)
    for t in data["transitions"]:
        steps.add_row(t["state"], when(t["at"]), t["detail"] or "")
    out.print()
    out.print(steps)


def history(
    words: Annotated[list[str] | None, typer.Argument(
        help="Filters and words (see above); `show ID` shows one command.",
        show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="How many commands to list.")] = 20,
    before: Annotated[str | None, typer.Option(
        help="List commands older than this command id (the next page).",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    args = list(words or [])
    if len(args) == 2 and args[0] == "show":
        data = api_call(config, "GET", f"/api/history/{args[1]}")
        if as_json:
            out.print_json(json.dumps(data))
        else:
            show_detail(data)
        return
    query = " ".join(args)
    params: dict[str, Any] = {"q": query, "limit": limit}
    if before:
        params["before"] = before
    data = api_call(config, "GET", "/api/history", params=params)
    if as_json:
        out.print_json(json.dumps(data))
    elif not data["commands"]:
        out.print("No command matches." if query else "No commands yet.")
    else:
        out.print(list_table(data, query))
        if data["next_before"]:
            out.print(f"[dim]Older: `ccr history {query + ' ' if query else ''}"
                      f"--before {data['next_before']}`; one command: "
                      f"`ccr history show ID`.[/]", highlight=False)


history.__doc__ = HELP
