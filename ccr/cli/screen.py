"""`ccr screen HANDLE [-o FILE]` saves a session's pane as a PNG; `ccr tail HANDLE [-n N]`
prints its last lines (GET /api/sessions/{handle}/screen.png and .../tail)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ccr.cli.common import ConfigOpt, api_call, err, out, print_error, settings_or_exit
from ccr.core.errors import CcrError

TAIL_DEFAULT = 30  # ccr.services.screens.TAIL_DEFAULT, not imported: it loads Pillow

HandleArg = Annotated[str, typer.Argument(help="Session handle (laptop:1) or its token.")]


def register(app: typer.Typer) -> None:
    app.command(name="screen")(screen)
    app.command(name="tail")(tail)


def screen(
    handle: HandleArg,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write the PNG (`-` for standard output). Default: "
        "$XDG_DATA_HOME/ccr/screenshots/HANDLE-TIME.png, where the console saves them too.",
        show_default=False)] = None,
    config: ConfigOpt = None,
) -> None:
    """Save the session's pane as it is now as a PNG picture, colours kept."""
    from ccr.cli.client import HubClient
    from ccr.services.screens import screenshots_dir

    client = HubClient(settings_or_exit(config))
    try:
        resp = client.fetch(f"/api/sessions/{handle}/screen.png")
    except CcrError as exc:
        print_error(exc.message, exc.steps)
        raise typer.Exit(1) from None
    finally:
        client.close()
    kind = resp.headers.get("content-type", "")
    if resp.status_code != 200:
        problem = resp.json().get("error") or {}
        print_error(str(problem.get("message", "?")), list(problem.get("steps") or []),
                    problem.get("trace_id"))
        raise typer.Exit(1)
    if not kind.startswith("image/png"):  # the hub has no monospace font: the text instead
        err.print(f"[yellow]No picture:[/] {resp.headers.get('x-ccr-note', '')}; the pane's "
                  "text follows.", highlight=False)
        out.print(resp.text, markup=False, highlight=False, end="")
        raise typer.Exit(1)
    if output is not None and str(output) == "-":
        sys.stdout.buffer.write(resp.content)
        sys.stdout.buffer.flush()
        return
    if output is None:
        name = resp.headers.get("content-disposition", "").partition('filename="')[2]
        output = screenshots_dir() / (name.rstrip('"') or f"{handle.replace(':', '-')}.png")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(resp.content)
    size = resp.headers.get("x-pane-size", "?")
    out.print(f"Saved {resp.headers.get('x-session', handle)} ({size}) to {output}",
              highlight=False)


def tail(
    handle: HandleArg,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1,
                                       help="How many lines (at most 2000).")] = TAIL_DEFAULT,
    config: ConfigOpt = None,
) -> None:
    """Print the last lines of the session's pane (its history included), as text."""
    data = api_call(config, "GET", f"/api/sessions/{handle}/tail", params={"lines": lines})
    if data.get("capped_from"):
        err.print(f"[dim]{data['capped_from']} lines asked; {data['lines']} is the most.[/]")
    out.print(data["text"], markup=False, highlight=False)
