"""`ccr status`: the running hub's health (GREEN / YELLOW / RED) per server, at a glance."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from ccr.cli.common import ConfigOpt, JsonOpt, api_call

out = Console(soft_wrap=True)  # lines are not cut at 80 columns in pipes and logs
COLORS = {"green": "green", "yellow": "yellow", "red": "bold red"}


def _rate(value: object) -> str:
    return f"{value * 100:.1f} %" if isinstance(value, int | float) else "-"


def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """The hub's health, each server's breaker, last check and error rate; active alerts."""
    data = api_call(config, "GET", "/api/health")
    health = data["health"]
    if as_json:
        out.print_json(json.dumps(data))
        return
    level = health["level"]
    out.print(f"[{COLORS.get(level, '')}]● {level.upper()}[/]  error rate (5 min) "
              f"{_rate(health.get('error_rate'))} · active alerts: {data['active_alerts']}")
    for reason in health.get("reasons") or []:
        out.print(f"  • {reason}")
    table = Table("server", "health", "breaker", "last check", "error rate", "why",
                  title_justify="left")
    for s in health["servers"]:
        table.add_row(s["server"], f"[{COLORS.get(s['level'], '')}]{s['level']}[/]",
                      s["breaker"].replace("_", "-"), s["probe"], _rate(s.get("error_rate")),
                      "; ".join(s.get("reasons") or []) or "ok")
    if health["servers"]:
        out.print(table)
    if data["active_alerts"]:
        out.print("[dim]See them with `ccr alerts`.[/]")
    if level == "red":
        raise typer.Exit(2)
