"""`ccr alerts`: list the running hub's alerts and acknowledge them over its API."""

from __future__ import annotations

import getpass
import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ccr.cli.common import ConfigOpt, JsonOpt, api_call

app = typer.Typer(name="alerts", invoke_without_command=True,
                  help="Alerts for the admins: list active ones (default), acknowledge.")
out = Console(soft_wrap=True)  # lines are not cut at 80 columns in pipes and logs
err = Console(stderr=True, soft_wrap=True)  # whole lines: a path in a message stays greppable

STYLE = {"firing": "bold red", "acknowledged": "yellow", "resolved": "green"}


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table("id", "rule", "server", "state", "since", "message", title=title,
                  title_justify="left")
    for a in rows:
        state = a["state"]
        if state == "acknowledged":
            state += f" by {a.get('acknowledged_by') or '?'}"
        elif state == "resolved":
            state += f" {_when(a.get('resolved_at'))}"
        table.add_row(str(a["id"]), a["title"], a.get("server") or "-",
                      f"[{STYLE.get(a['state'], '')}]{state}[/]", _when(a["fired_at"]),
                      a["message"])
    return table


@app.callback()
def main(ctx: typer.Context, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Without a subcommand: the active alerts (like `ccr alerts list`)."""
    if ctx.invoked_subcommand is None:
        list_(config=config, as_json=as_json, resolved=False)


@app.command("list")
def list_(config: ConfigOpt = None, as_json: JsonOpt = False,
          resolved: Annotated[bool, typer.Option(
              "--resolved", help="The latest alerts of every state, resolved ones too.")]
          = False) -> None:
    """Active alerts (firing or acknowledged): rule, server, since when and why."""
    rows = api_call(config, "GET", "/api/alerts", params={"resolved": resolved})["alerts"]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("[green]No active alerts.[/]" if not resolved else "No alerts yet.")
        return
    out.print(_table(rows, "Alerts" if resolved else "Active alerts"))
    if any(a["state"] == "firing" for a in rows):
        out.print("[dim]Acknowledge with `ccr alerts ack ID`.[/]")


@app.command()
def ack(alert: Annotated[int, typer.Argument(help="The alert's id (from `ccr alerts`).")],
        config: ConfigOpt = None) -> None:
    """Acknowledge a firing alert: it stays quiet until it resolves and fires again."""
    by = f"cli:{_user()}"
    data = api_call(config, "POST", f"/api/alerts/{alert}/ack", json={"by": by})
    a = data["alert"]
    if data.get("acknowledged"):
        out.print(f"[green]Alert {a['id']} acknowledged[/] ({a['title']}"
                  f"{' on ' + a['server'] if a.get('server') else ''}); quiet until it resolves.")
    else:
        out.print(f"Alert {a['id']} was already acknowledged by {a.get('acknowledged_by')}.")


def _user() -> str:
    try:
        name = getpass.getuser()
    except Exception:
        return "?"
    cleaned = "".join(c for c in name if c.isalnum() or c in "._-")[:40]
    return cleaned or "?"



