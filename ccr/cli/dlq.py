"""`ccr dlq`: inspect, retry and purge the running hub's dead letters over its API."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from ccr.cli.common import ConfigOpt, JsonOpt, api_call, err, out

app = typer.Typer(name="dlq", no_args_is_help=True,
                  help="Messages Telegram did not take: list, show, retry, purge (admin).")
def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _next(e: dict[str, Any]) -> str:
    from ccr.core.durations import ago

    if e["state"] == "queued" and e.get("next_attempt_at"):
        return "in " + ago(e["next_attempt_at"] - time.time())
    return {"retrying": "now", "archived": "by hand only", "delivered": "-"}.get(e["state"], "-")


@app.command("list")
def list_(config: ConfigOpt = None, as_json: JsonOpt = False,
          delivered: Annotated[bool, typer.Option(
              "--delivered", help="Also show entries delivered after all.")] = False) -> None:
    """List dead letters: what, to which chat, why, and when they are tried next."""
    rows = api_call(config, "GET", "/api/dlq", params={"delivered": delivered})["entries"]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("The dead-letter queue is empty: every message was delivered.")
        return
    table = Table("id", "what", "chat", "state", "since", "cycle", "next try", "reason",
                  title="Dead letters", title_justify="left")
    for e in rows:
        table.add_row(str(e["id"]), e["what"], str(e["chat_id"]), e["state"],
                      _when(e["created_at"]), f"{e['cycles']}/{e['max_cycles']}", _next(e),
                      e["reason"])
    out.print(table)
    out.print("[dim]Retry with `ccr dlq retry ID` or `ccr dlq retry --all`.[/]")


@app.command()
def show(entry: Annotated[int, typer.Argument(help="The entry's id (from `ccr dlq list`).")],
         config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Show one dead letter in full."""
    e = api_call(config, "GET", f"/api/dlq/{entry}")["entry"]
    if as_json:
        out.print_json(json.dumps(e))
        return
    table = Table(show_header=False, title=f"Dead letter {e['id']}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in (
        ("what", e["what"]), ("chat", str(e["chat_id"])), ("state", e["state"]),
        ("reason", e["reason"]), ("error type", e["error_type"]),
        ("failing since", _when(e["created_at"])), ("send attempts", str(e["attempts"])),
        ("retry cycles", f"{e['cycles']} of {e['max_cycles']}"), ("next try", _next(e)),
        ("archived", _when(e["archived_at"])), ("admins told", _when(e["alerted_at"])),
        ("delivered", _when(e["delivered_at"])), ("outbox message", str(e["outbox_id"])),
    ):
        table.add_row(label, value)
    out.print(table)


@app.command()
def retry(entry: Annotated[int | None, typer.Argument(
              help="The entry's id (from `ccr dlq list`).", show_default=False)] = None,
          all_: Annotated[bool, typer.Option("--all", help="Retry every waiting entry.")] = False,
          config: ConfigOpt = None) -> None:
    """Send dead letters again now, in their original order per chat."""
    if (entry is None) == (not all_):
        err.print("[bold red]Error:[/] name one entry (`ccr dlq retry 3`) or use --all.")
        raise typer.Exit(2)
    if all_:
        moved = api_call(config, "POST", "/api/dlq/retry")["retried"]
        if not moved:
            out.print("Nothing to retry: no dead letter is waiting.")
            return
        out.print(f"[green]{len(moved)} dead letter(s) back in line[/] "
                  f"({', '.join(str(e['id']) for e in moved)}); they are sent in order.")
        return
    data = api_call(config, "POST", f"/api/dlq/{entry}/retry")
    if data.get("retried"):
        out.print(f"[green]Dead letter {entry} is back in line[/] and is sent now.")
    else:
        out.print(f"Dead letter {entry} is already {data['entry']['state']}; nothing to do.")


@app.command()
def purge(archived: Annotated[bool, typer.Option(
              "--archived", help="Only archived (and delivered) entries.")] = False,
          yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
          config: ConfigOpt = None) -> None:
    """Delete dead letters for good (the outbox keeps a 'failed' trace of each)."""
    what = "archived and delivered" if archived else "ALL waiting, archived and delivered"
    if not yes and not typer.confirm(f"Delete {what} dead letters? They will not be sent.",
                                     default=False):
        raise typer.Exit(1)
    count = api_call(config, "DELETE", "/api/dlq", params={"archived": archived})["purged"]
    out.print(f"{count} dead letter(s) purged.")
