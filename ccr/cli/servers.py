"""`ccr servers add | list | test | remove`: a server joins the fleet in one command."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from ccr.cli.common import ConfigOpt, JsonOpt, err, fail, out, print_error
from ccr.core.config import Settings, config_path, load_settings, parse_settings
from ccr.core.durations import ago
from ccr.core.errors import CcrError
from ccr.core.plain_http import no_ca_store

T = TypeVar("T")

app = typer.Typer(
    help="Add, check and remove the machines the hub drives. `ccr servers add kr4 dev@kr4` "
         "logs in (verifying the host key), installs the hook, writes ccr.toml and tells the "
         "running hub, then proves a test event from the server's hook reaches it.",
    no_args_is_help=True,
)

if TYPE_CHECKING:
    from types import ModuleType

    from ccr.services.hook_install import HookSource


def _flows() -> ModuleType:
    """ccr.services.servers, imported when a servers command runs (it pulls in asyncssh):
    `ccr console` and the other commands start without it."""
    from ccr.services import servers

    return servers


def _checks() -> ModuleType:
    from ccr.services import server_checks

    return server_checks


class _Ui:
    """Progress as a rich status spinner, results as ✓/✗ lines, questions on the terminal."""

    def __init__(self, *, interactive: bool) -> None:
        self.interactive = interactive

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        with err.status(escape(text)):
            yield

    def ok(self, text: str) -> None:
        out.print(f"[green]✓[/] {escape(text)}", highlight=False)

    def bad(self, text: str, fix: str = "") -> None:
        out.print(f"[red]✗[/] {escape(text)}", highlight=False)
        if fix:
            out.print(f"    [dim]→ {escape(fix)}[/]", highlight=False)

    def note(self, text: str) -> None:
        out.print(text, markup=False, highlight=False)

    def confirm(self, question: str) -> bool | None:
        if not self.interactive:
            return None
        return bool(typer.confirm(question, default=False, err=True))


class _Hub:
    """The running hub, reached with the settings of the config file as it is now."""

    def __init__(self, config: Path) -> None:
        self.config = config

    def _settings(self) -> Settings:
        try:
            return load_settings(self.config)
        except CcrError:
            return parse_settings({})

    def running(self) -> bool:
        import httpx  # only here: ~0.2 s to import

        try:
            url = f"{self._settings().hub.url}/healthz"
            return httpx.get(url, timeout=3, verify=no_ca_store()).status_code == 200
        except httpx.HTTPError:
            return False

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        from ccr.cli.client import HubClient

        client = HubClient(self._settings())
        try:
            return client.request(method, path, **kwargs)
        finally:
            client.close()

    def servers(self) -> list[dict[str, Any]]:
        found = self._request("GET", "/api/servers").get("servers")
        return found if isinstance(found, list) else []

    def sync(self, server_id: str, config: str) -> dict[str, Any]:
        return self._request("POST", "/api/servers/sync", json={"id": server_id,
                                                                 "config": config})


def _source() -> HookSource:
    from ccr import hook as hook_module

    path = Path(hook_module.__file__).resolve()
    from ccr.services.hook_install import HookSource

    return HookSource(code=path.read_bytes(), local_path=str(path),
                      local_command=hook_module.default_command(),
                      snippet=hook_module.settings_snippet,
                      command=hook_module.fast_command)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a flow; every failure is a plain message with its steps, never a traceback."""
    try:
        return asyncio.run(coro)
    except CcrError as exc:
        fail(exc)
    except _flows().Problem as exc:
        print_error(exc.message, exc.steps)
    except (OSError, ValueError) as exc:
        print_error(f"{type(exc).__name__}: {exc}", ["Run the command again; every step is "
                                                     "safe to repeat."])
    raise typer.Exit(1)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


@app.command()
def add(
    server_id: Annotated[str, typer.Argument(
        metavar="ID", help="The server's id in ccr (a-z, 0-9, -): handles read ID:1.")],
    target: Annotated[str, typer.Argument(
        metavar="TARGET", help="USER@HOST to log in to over SSH, or `local` for this machine.")],
    port: Annotated[int | None, typer.Option("--port", "-p", min=1, max=65535,
                                             help="SSH port (default 22).")] = None,
    identity: Annotated[Path | None, typer.Option(
        "--identity", "-i", help="Private key to log in with (default ~/.ssh/id_ed25519); "
        "the hub uses the same.")] = None,
    known_hosts: Annotated[Path | None, typer.Option(
        "--known-hosts", help="known_hosts file that holds the server's host key (default "
        "~/.ssh/known_hosts).")] = None,
    hooks_via: Annotated[str | None, typer.Option(
        "--hooks-via", help="ssh (default): hooks reach the hub through a port it forwards "
        "over its own SSH connection; direct: they post to hub.hook_url.")] = None,
    hooks_port: Annotated[int | None, typer.Option(
        "--hooks-port", min=1, max=65535,
        help="With --hooks-via ssh: the port on the server's 127.0.0.1 (default 28765).")] = None,
    accept_new: Annotated[bool, typer.Option(
        "--accept-new", help="Trust a host key seen for the first time and record it (its "
        "fingerprint is shown). A changed key is always refused.")] = False,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Answer yes to every question except trusting a new host key "
        "(that takes --accept-new).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Add a server: verify its host key, install the hook, write ccr.toml, tell the hub.

    Safe to run again: nothing is added twice. Over SSH the hook goes to
    ~/.local/share/ccr/hook.py, its settings to ~/.config/ccr/hook.env (mode 600), and
    ccr's entries into ~/.claude/settings.json (backed up first; your other settings and hooks
    stay). An unknown host key is trusted only when you confirm its fingerprint, or with
    --accept-new.
    """
    if hooks_via not in (None, "ssh", "direct"):
        raise typer.BadParameter("must be ssh or direct", param_hint="--hooks-via")
    path = config_path(config)
    del yes  # add asks nothing else today; accepted so scripts can pass it everywhere
    try:
        request = _flows().AddRequest(server_id, _flows().Target.parse(
            target, port=port, identity=identity, known_hosts=known_hosts, hooks_via=hooks_via,
            hooks_port=hooks_port), path, accept_new=accept_new)
    except CcrError as exc:
        fail(exc)
    proven = _run(_flows().add(request, _Ui(interactive=_interactive()), _Hub(path), _source()))
    if proven:
        out.print(f"\n[bold green]{server_id} is ready.[/] Claude Code sessions started there "
                  "from now on report to the hub (restart running ones: Claude reads its hooks "
                  "when it starts).")
    elif _Hub(path).running():
        raise typer.Exit(1)


@app.command("list")
def list_(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Servers in ccr.toml, with the running hub's view of each.

    Kind, target, how hooks reach the hub, reachable or not (and an open breaker), and when
    the hub last heard the server's hook.
    """
    path = config_path(config)
    try:
        found, running = _checks().rows(path, _Hub(path))
    except CcrError as exc:
        fail(exc)
    if as_json:
        import json
        out.print_json(json.dumps([r.__dict__ for r in found]))
        return
    if not found:
        out.print(f"No servers in {path} yet. Add one: `ccr servers add ID USER@HOST` "
                  "(or `local`).")
        return
    table = Table("id", "kind", "target", "hooks via", "state", "last hook",
                  title=f"Servers in {path}", title_justify="left")
    now = time.time()
    for r in found:
        last = f"{ago(now - r.last_hook)} ago" if r.last_hook else (
            "never" if running else "-")
        table.add_row(r.id + ("" if r.in_config else " (not in file)"), r.kind, r.target,
                      r.hooks_via, r.state, last)
    out.print(table)
    if not running:
        out.print("[dim]The hub is not running (`ccr serve`): states and hook times come "
                  "from it.[/]")


@app.command()
def test(
    server_id: Annotated[str, typer.Argument(metavar="ID", help="A server id from ccr.toml.")],
    config: ConfigOpt = None,
) -> None:
    """Check a server: login, tmux, the hook, and that its events reach the hub.

    One line per check (host key and login, tmux, python3, the hook file, hook.env, ccr's
    entries in Claude Code's settings.json, a test event from the hook), each with its fix.
    """
    path = config_path(config)
    if not _run(_checks().test(path, server_id, _Ui(interactive=False), _Hub(path), _source())):
        raise typer.Exit(1)


@app.command()
def remove(
    server_id: Annotated[str, typer.Argument(metavar="ID", help="A server id from ccr.toml.")],
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="If the server cannot be reached, remove it from ccr.toml "
        "anyway (its hook stays there).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Remove a server: take ccr's hook out of it, and it out of ccr.toml and the hub.

    ccr's entries leave the server's ~/.claude/settings.json (the rest stays; a backup is
    kept), hook.env and the copied hook go, its servers entry leaves ccr.toml (your comments
    stay), and the running hub stops serving it.
    """
    path = config_path(config)
    _run(_flows().remove(path, server_id, _Ui(interactive=_interactive()), _Hub(path), _source(),
                      yes=yes))
