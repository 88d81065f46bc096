"""`ccr new SERVER DIR`, `ccr stop HANDLE`, `ccr clear|restart|esc HANDLE`: start and end
Claude sessions through the running hub (POST/DELETE /api/sessions)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ccr.cli.common import ConfigOpt, api_call, err, out

HandleArg = Annotated[str, typer.Argument(help="Session handle (laptop:1) or its token.")]


def register(app: typer.Typer) -> None:
    for name, command in (("new", new), ("stop", stop), ("clear", clear),
                          ("restart", restart), ("esc", esc)):
        app.command(name=name)(command)


def _call(config: Path | None, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """One call that may wait for Claude to start; errors printed with their steps (exit 1)."""
    return api_call(config, method, path, starts_claude=True, **kwargs)


def _started(data: dict[str, Any]) -> None:
    s = data["session"]
    project = (s.get("project") or "?").rstrip("/").rsplit("/", 1)[-1]
    verb = "Continues" if data.get("resumed") else "Started"
    out.print(f"[green]{verb}[/] [bold]{s['handle']}[/] ({s['token']}) · {project} on "
              f"{s['server']} in {data['directory']} (pane {data.get('pane')}, "
              f"{data.get('seconds', 0):.1f} s)", highlight=False)


def new(
    server: Annotated[str, typer.Argument(help="Server id from ccr.toml.")],
    directory: Annotated[str, typer.Argument(
        help="Directory there: absolute, or from the home directory (~ works).")] = "~",
    config: ConfigOpt = None,
) -> None:
    """Start Claude in a new tmux window on SERVER, in DIRECTORY; prints its handle."""
    with out.status(f"Starting Claude on {server}…"):
        data = _call(config, "POST", "/api/sessions", json={"server": server,
                                                              "dir": directory})
    _started(data)


def stop(
    handle: HandleArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
    config: ConfigOpt = None,
) -> None:
    """End Claude in a session (Escape, /exit, its pane closed if it lingers); asks first."""
    if not yes:
        if not sys.stdin.isatty():
            err.print(f"Not stopped: confirm at a terminal, or run `ccr stop {handle} --yes`.")
            raise typer.Exit(1)
        if not typer.confirm(f"Stop Claude in {handle}? It gets Escape and /exit; its pane "
                             "is closed if it lingers", default=False):
            out.print("Left running.")
            raise typer.Exit(1)
    data = _call(config, "DELETE", f"/api/sessions/{handle}")
    how = {"exit": "Claude exited on /exit", "killed": "its pane was closed",
           "gone": "its pane was already gone"}.get(data["how"], data["how"])
    out.print(f"[green]Stopped[/] {data['session']['handle']}: {how}.", highlight=False)


def clear(handle: HandleArg, config: ConfigOpt = None) -> None:
    """Type /clear into a session: Claude starts a fresh conversation."""
    data = _call(config, "POST", f"/api/sessions/{handle}/clear")
    if data["confirmed"]:
        out.print(f"[green]Cleared[/] {data['session']['handle']}.", highlight=False)
        return
    err.print(f"/clear was typed into {data['session']['handle']}, but a fresh conversation "
              "did not show within 5 s. The pane shows:")
    err.print(str(data.get("screen") or ""), markup=False, highlight=False)
    raise typer.Exit(1)


def restart(handle: HandleArg, config: ConfigOpt = None) -> None:
    """Stop Claude in a session, then start it again there with --continue."""
    with out.status(f"Restarting {handle}…"):
        data = _call(config, "POST", f"/api/sessions/{handle}/restart")
    _started(data)


def esc(handle: HandleArg, config: ConfigOpt = None) -> None:
    """Press Escape in a session: Claude stops what it is doing."""
    data = _call(config, "POST", f"/api/sessions/{handle}/esc")
    out.print(f"Escape pressed in {data['session']['handle']}.", highlight=False)
