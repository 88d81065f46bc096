"""What every `ccr` subcommand shares: the consoles, the --config/--json options, how an
error is printed (message, numbered steps, trace id), and one call to the running hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ccr.core.config import Settings, load_settings
from ccr.core.errors import CcrError

out = Console(soft_wrap=True)  # lines are not cut at 80 columns in pipes and logs
err = Console(stderr=True, soft_wrap=True)  # whole lines: a path in a message stays greppable

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="ccr.toml to use (default: $CCR_CONFIG, then "
                 "~/.config/ccr/ccr.toml).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def print_trace(trace_id: object) -> None:
    """Quote an error's trace id and how to see it."""
    if isinstance(trace_id, str) and trace_id:
        err.print(f"  [dim]trace {trace_id[:12]} (see it with `ccr trace {trace_id[:12]}`)[/]",
                  highlight=False)


def print_error(message: str, steps: list[str] | tuple[str, ...], trace_id: object = None,
                *, label: str = "Error") -> None:
    """An error as every face shows it: the message, then numbered recovery steps."""
    err.print(f"[bold red]{label}:[/] {message}")
    for i, step in enumerate(steps, 1):
        err.print(f"  {i}. {step}")
    print_trace(trace_id)


def fail(exc: CcrError) -> None:
    """Print an error with its recovery steps and exit 1."""
    print_error(exc.message, exc.steps, exc.trace_id)
    raise typer.Exit(1)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except CcrError as exc:
        fail(exc)
        raise AssertionError from None  # fail() always exits


def api_call(config: Path | None, method: str, path: str, *, starts_claude: bool = False,
             **kwargs: Any) -> dict[str, Any]:
    """One call to the running hub's API; an error with recovery steps (exit 1) if it fails,
    with the window's last lines when the hub sent them. `starts_claude`: the call may wait
    for Claude to start (`commands.start_timeout_s`)."""
    from ccr.cli.client import HubClient

    settings = settings_or_exit(config)
    timeout = settings.commands.start_timeout_s + 30 if starts_claude else 30.0
    try:
        data = HubClient(settings, timeout=timeout).request(method, path, **kwargs)
    except CcrError as exc:
        fail(exc)
        raise AssertionError from None  # fail() always exits
    problem = data.get("error")
    if isinstance(problem, dict):
        print_error(str(problem.get("message", "?")), list(problem.get("steps") or []),
                    problem.get("trace_id"))
        if data.get("screen"):
            err.print("[bold]Its window shows:[/]")
            err.print(str(data["screen"]), markup=False, highlight=False)
        raise typer.Exit(1)
    return data
