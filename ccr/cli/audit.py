"""`ccr audit`: who did what on the running hub, newest first (over its API; admin token)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ccr.cli.common import ConfigOpt, JsonOpt, api_call, out


def audit(config: ConfigOpt = None, as_json: JsonOpt = False,
          since: Annotated[str | None, typer.Option(
              "--since", help="Only the last DURATION: 90s, 15m, 2h, 7d, 1w "
                              "(default: everything kept, \\[audit] keep_days).",
              show_default=False)] = None,
          who: Annotated[str | None, typer.Option(
              "--who", help="Only actors whose id or name contains this: a Telegram user "
                            "id or name, console, cli, api:grafana.",
              show_default=False)] = None,
          limit: Annotated[int, typer.Option(
              "--limit", min=1, max=5000, help="At most this many entries.")] = 200) -> None:
    """The audit log: every action that changed something, and every refused attempt.

    Each entry says when, who (Telegram user, console, or API token), from which face,
    what, on which server/session, the outcome and the trace id.
    """
    params: dict[str, str | int] = {"limit": limit}
    if since:
        params["since"] = since
    if who:
        params["who"] = who
    rows = api_call(config, "GET", "/api/audit", params=params)["entries"]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("No audit entries" + (f" in the last {since}." if since else "."))
        return
    table = Table(title="Audit log, newest first", title_justify="left")
    for name in ("when", "who", "face", "action", "where"):
        table.add_column(name, no_wrap=True)  # ids and names stay whole, greppable
    for name in ("outcome", "what", "trace"):
        table.add_column(name)
    for e in rows:
        outcome = escape(e["outcome"])
        table.add_row(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["at"])),
                      escape(e["who"]), e["face"], e["action"],
                      escape(e.get("session") or e.get("server") or "-"),
                      f"[red]{outcome}[/]" if e["refused"] else outcome,
                      escape(e["what"]), (e.get("trace_id") or "")[:12])
    out.print(table)
