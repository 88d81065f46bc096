"""The `ccr` command. Each subcommand is a thin call into the hub, its API or a service."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ccr.cli import alerts as alerts_cli
from ccr.cli import audit as audit_cli
from ccr.cli import dlq as dlq_cli
from ccr.cli import history as history_cli
from ccr.cli import screen as screen_cli
from ccr.cli import servers as servers_cli
from ccr.cli import service as service_cli
from ccr.cli import session_control as session_cli
from ccr.cli import status as status_cli
from ccr.cli import trace as trace_cli
from ccr.cli.common import ConfigOpt, err, fail, out, print_error, settings_or_exit
from ccr.core.errors import CcrError

app = typer.Typer(
    name="ccr",
    help="Drive Claude Code in tmux, locally and over SSH, from Telegram and a live console.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(dlq_cli.app, name="dlq")
app.command(name="trace")(trace_cli.trace)
app.add_typer(alerts_cli.app, name="alerts")
app.command(name="status")(status_cli.status)
app.command(name="history")(history_cli.history)
app.command(name="audit")(audit_cli.audit)
app.add_typer(service_cli.app, name="service")
app.add_typer(servers_cli.app, name="servers")
session_cli.register(app)
screen_cli.register(app)


@app.command()
def serve(config: ConfigOpt = None) -> None:
    """Run the hub headless: ingest, Telegram bot, delivery; stops cleanly on SIGTERM/SIGINT."""
    from ccr.core.config import config_path
    from ccr.hub import Hub
    from ccr.telemetry.logsink import print_events

    settings = settings_or_exit(config)

    async def main() -> None:
        hub = Hub(settings, config_file=config_path(config))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, hub.request_stop)
        logger = asyncio.create_task(print_events(hub.bus, err))
        try:
            await hub.run_until_stopped()
        finally:
            logger.cancel()
        err.print("hub stopped")

    try:
        asyncio.run(main())
    except CcrError as exc:
        fail(exc)


@app.command()
def console(config: ConfigOpt = None) -> None:
    """Run the hub inside the live operator console."""
    from ccr.console.app import ConsoleApp
    from ccr.core.config import config_path

    settings = settings_or_exit(config)

    def build() -> Any:
        """The hub, built once the console shows its first screen (its imports take ~1 s)."""
        from ccr.hub import Hub

        return Hub(settings, config_file=config_path(config))

    result = ConsoleApp(build_hub=build, settings=settings).run()
    if isinstance(result, CcrError):
        fail(result)


def _client(config: Path | None) -> Any:
    from ccr.cli.client import HubClient

    return HubClient(settings_or_exit(config))


@app.command()
def sessions(config: ConfigOpt = None,
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the live sessions of the running hub."""
    try:
        data = _client(config).request("GET", "/api/sessions")
    except CcrError as exc:
        fail(exc)
    rows = data.get("sessions", [])
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("No live sessions yet. They appear when a hook reports from a server.")
        return
    table = Table("handle", "token", "project", "tmux", "last", "active", "expires in",
                  title="Live sessions", title_justify="left")
    now = time.time()
    for s in rows:
        from ccr.core.durations import ago

        project = (s.get("project") or "?").rstrip("/").rsplit("/", 1)[-1]
        tmux = f"{s.get('tmux_session') or '?'} {s.get('pane') or ''}".strip()
        table.add_row(s["handle"], s["token"], project, tmux, s.get("last_event") or "",
                      ago(now - s["updated_at"]) + " ago", ago(s["expires_at"] - now))
    out.print(table)


@app.command()
def send(
    handle: Annotated[str, typer.Argument(help="Session handle (laptop:1) or its token.")],
    text: Annotated[str, typer.Argument(help="Text to type; it is typed literally, then Enter.")],
    wait: Annotated[bool, typer.Option(
        "--wait", help="Then wait for Claude's answer and print it (or why there is none).")
    ] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="With --wait: give up waiting after this many seconds.")] = 600.0,
    config: ConfigOpt = None,
) -> None:
    """Type TEXT into a session's pane through the running hub."""
    try:
        data = _client(config).request("POST", "/api/commands",
                                       json={"session": handle, "text": text})
    except CcrError as exc:
        fail(exc)
    command = data.get("command")
    error = data.get("error")
    if error:
        print_error(error["message"], error.get("steps", []), error.get("trace_id"),
                    label="Not delivered" if command else "Error")
        raise typer.Exit(1)
    out.print(f"[green]Typed into {command['session']}[/] (command {command['id']})")
    if wait:
        _await_answer(_client(config), command["id"], timeout)


FINAL = ("completed", "failed", "timeout", "cancelled", "uncertain")


def _await_answer(client: Any, command_id: str, timeout: float) -> None:
    """Follow a command until it ends; print Claude's reply, or why there is none."""
    deadline = time.monotonic() + timeout
    with out.status("Waiting for Claude's answer…"):
        while True:
            try:
                found = client.request("GET", f"/api/history/{command_id}")["command"]
            except CcrError as exc:
                fail(exc)
            if found["state"] in FINAL:
                break
            if time.monotonic() > deadline:
                out.print(f"[yellow]Still {found['state']} after {timeout:g} s[/]; "
                          f"`ccr history show {command_id}` follows it.")
                raise typer.Exit(3)
            time.sleep(0.5)
    took = f" in {found['duration']:.1f} s" if found.get("duration") is not None else ""
    if found["state"] == "completed":
        out.print(f"[green]Done{took}[/]")
        out.print(found.get("reply") or "(Claude finished without a text reply)",
                  markup=False, highlight=False)
        return
    out.print(f"[red]{found['state']}{took}[/]")
    out.print(found.get("error") or "", markup=False, highlight=False)
    raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def hook(
    print_settings: Annotated[bool, typer.Option(
        "--print-settings", help="Print the hooks block for Claude Code's settings.json.")] = False,
    flush: Annotated[bool, typer.Option(
        "--flush", help="Send the events spooled while the hub was unreachable.")] = False,
) -> None:
    """Claude Code hook: reads the event JSON on stdin and posts it to the hub. Never fails."""
    from ccr import hook as hook_module

    args = (["--print-settings"] if print_settings else []) + (["--flush"] if flush else [])
    raise typer.Exit(hook_module.main(args))


@app.command()
def doctor(config: ConfigOpt = None) -> None:
    """Check config, secrets, tmux, each server's SSH and host key, its Claude Code, hooks
    and hook path, Telegram, and the hub."""
    from rich.markup import escape

    from ccr.hook import settings_snippet
    from ccr.services.doctor import Check, run_checks

    settings = settings_or_exit(config)
    out.print(f"[green]✓[/] config: {settings.hub.listen}, {len(settings.servers)} server(s)")
    events = list(settings_snippet("ccr hook")["hooks"])
    with out.status("checking servers, Claude Code and Telegram…"):
        checks: list[Check] = asyncio.run(run_checks(settings, events))
    failed = 0
    for c in checks:
        mark = "[green]✓[/]" if c.ok else ("[yellow]![/]" if c.ok is None else "[red]✗[/]")
        out.print(f"{mark} {escape(c.name)}: {escape(c.detail)}")
        if c.fix and not c.ok:
            out.print(f"    [dim]→ {escape(c.fix)}[/]")
        failed += c.ok is False
    if failed:
        out.print(f"\n[red]{failed} problem(s) to fix.[/]")
        raise typer.Exit(1)
    out.print("\n[green]All good.[/]")


@app.command()
def demo(
    data_dir: Annotated[Path | None, typer.Option(
        help="Where the demo keeps its database (default: a fresh temporary folder).")] = None,
    port: Annotated[int, typer.Option(help="Port for the demo hub (0: any free port).")] = 0,
) -> None:
    """See the whole loop in a minute: a hub, a stand-in Claude in tmux, and the console."""
    from ccr.demo.runner import run_demo

    try:
        run_demo(data_dir=data_dir, port=port)
    except CcrError as exc:
        fail(exc)


@app.command()
def version() -> None:
    """Print ccr's version."""
    from ccr import __version__

    out.print(f"ccr {__version__}")


def run() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
