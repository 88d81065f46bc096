"""`ccr service install|status`: run the hub as a systemd service (ccr.services.systemd)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ccr.cli.common import ConfigOpt, err, out, settings_or_exit
from ccr.core.config import Settings, config_path
from ccr.core.plain_http import no_ca_store
from ccr.services import systemd

app = typer.Typer(help="Run the hub as a systemd service (restarted on failure).",
                  no_args_is_help=True)

UserOpt = Annotated[bool, typer.Option(
    "--user", help="A user unit (~/.config/systemd/user), running as you; default: a system "
                   "unit in /etc/systemd/system running as you (needs root).")]
UnitDirOpt = Annotated[Path | None, typer.Option(
    "--unit-dir", help="Write the unit here instead (systemctl is then left alone).",
    show_default=False)]
EnvFileOpt = Annotated[Path | None, typer.Option(
    "--env-file", help="The secrets file (default ~/.config/ccr/ccr.env with --user, else "
                       "/etc/ccr/ccr.env).", show_default=False)]
NameOpt = Annotated[str, typer.Option("--name", help="The unit's name.")]


def _plan(config: Path | None, user: bool, unit_dir: Path | None, env_file: Path | None,
          name: str) -> tuple[systemd.UnitPlan, Settings]:
    settings = settings_or_exit(config)
    unit = systemd.plan(settings, config_path(config), user_mode=user, name=name,
                        unit_dir=unit_dir, env_file=env_file)
    return unit, settings


@app.command()
def install(
    config: ConfigOpt = None, user: UserOpt = False, unit_dir: UnitDirOpt = None,
    env_file: EnvFileOpt = None, name: NameOpt = "ccr",
    start: Annotated[bool, typer.Option(help="Enable and start it now (with systemd).")] = True,
) -> None:
    """Write the unit (`ccr serve --config <this config>`, Restart=on-failure) and the secrets
    file it reads (mode 0600, values from this shell's environment), then enable and start it."""
    unit, settings = _plan(config, user, unit_dir, env_file, name)
    names = systemd.secret_names(settings)
    running = systemd.systemd_running()
    if not running and unit_dir is None:
        err.print("[yellow]systemd is not running on this machine[/] (no /run/systemd/system): "
                  "nothing installed. The unit is below; run `ccr serve` under your own "
                  f"supervisor, or save it as {escape(str(unit.unit_path))} where systemd "
                  f"runs, with the secrets ({', '.join(names)}) in {escape(str(unit.env_path))}"
                  " (chmod 600).")
        print(unit.unit_text(), end="")
        raise typer.Exit(1)
    try:
        secrets = systemd.write_env_file(unit.env_path, names)
        systemd.write_unit(unit)
    except PermissionError as exc:
        err.print(f"[red]Cannot write {escape(str(exc.filename))}[/]: permission denied. Run it "
                  "as root for a system unit, or use `ccr service install --user`.")
        raise typer.Exit(1) from None
    out.print(f"[green]✓[/] unit {escape(str(unit.unit_path))}")
    out.print(f"    ExecStart={escape(' '.join(unit.exec_start))}")
    held = [*(f"{n} kept" for n in secrets.kept),
            *(f"{n} from this shell" for n in secrets.added)]
    out.print(f"[green]✓[/] secrets {escape(str(secrets.path))} (mode 0600): "
              f"{', '.join(held) or 'none'}")
    for n in secrets.missing:
        out.print(f"[yellow]![/] {n} is set neither there nor in this shell: add "
                  f"`{n}=...` to {escape(str(secrets.path))}")
    if unit_dir is not None:
        scope = "--user " if user else ""
        out.print(f"Written only (custom --unit-dir): `systemctl {scope}link "
                  f"{escape(str(unit.unit_path))}` then `systemctl {scope}enable --now "
                  f"{name}` to use it.")
        return
    _enable(unit, start)


def _enable(unit: systemd.UnitPlan, start: bool) -> None:
    steps = [("daemon-reload",)] + ([("enable", "--now", f"{unit.name}.service")] if start
                                    else [("enable", f"{unit.name}.service")])
    for args in steps:
        done = systemd.systemctl(unit.user_mode, *args)
        if done.returncode != 0:
            err.print(f"[red]systemctl {' '.join(args)} failed:[/] "
                      f"{escape(done.stderr.strip() or done.stdout.strip())}")
            raise typer.Exit(1)
    logs = f"journalctl {'--user-unit' if unit.user_mode else '-u'} {unit.name}"
    out.print(f"[green]✓[/] {'enabled and started' if start else 'enabled'}: "
              f"`ccr service status{' --user' if unit.user_mode else ''}`, `{logs}`")
    if unit.user_mode:
        out.print("  To keep it running when you are logged out: "
                  "`loginctl enable-linger $USER`.")


@app.command()
def status(config: ConfigOpt = None, user: UserOpt = False, unit_dir: UnitDirOpt = None,
           env_file: EnvFileOpt = None, name: NameOpt = "ccr") -> None:
    """The unit, its secrets file, systemd's view of it and whether the hub answers."""
    unit, settings = _plan(config, user, unit_dir, env_file, name)
    names = systemd.secret_names(settings)
    if unit.unit_path.is_file():
        found = systemd.unit_settings(unit.unit_path)
        out.print(f"[green]✓[/] unit {escape(str(unit.unit_path))}")
        out.print(f"    ExecStart={escape(found.get('ExecStart', '?'))}")
        env_path = Path(found.get("EnvironmentFile", str(unit.env_path)).lstrip("-"))
    else:
        out.print(f"[red]✗[/] no unit at {escape(str(unit.unit_path))}: "
                  f"`ccr service install{' --user' if user else ''}` writes it")
        env_path = unit.env_path
    private, what = systemd.env_file_private(env_path)
    have = systemd.read_env_file(env_path) if private else {}
    set_names = [n for n in names if have.get(n)]
    out.print(f"{'[green]✓[/]' if private else '[red]✗[/]'} secrets {escape(str(env_path))}: "
              f"{escape(what)}" + (f"; {', '.join(set_names) or 'none'} set" if private else ""))
    if not systemd.systemd_running():
        out.print("[yellow]![/] systemd is not running on this machine: it does not run the "
                  "unit here")
    elif unit_dir is None:
        shown = systemd.systemctl(user, "show", f"{name}.service", "--property",
                                  "LoadState,ActiveState,SubState,MainPID,NRestarts")
        props = dict(line.partition("=")[::2] for line in shown.stdout.splitlines())
        active = props.get("ActiveState", "unknown")
        out.print(f"{'[green]✓[/]' if active == 'active' else '[red]✗[/]'} systemd: "
                  f"{escape(active)} ({escape(props.get('SubState', '?'))}), pid "
                  f"{escape(props.get('MainPID', '?'))}, restarts "
                  f"{escape(props.get('NRestarts', '?'))}")
    url = settings.hub.url
    import httpx  # only here: ~0.2 s to import

    try:
        code = httpx.get(f"{url}/healthz", timeout=3, verify=no_ca_store()).status_code
    except httpx.HTTPError:
        code = 0
    if code == 200:
        out.print(f"[green]✓[/] hub answers at {url}")
        return
    out.print(f"[red]✗[/] hub {'not answering' if not code else f'answers {code}'} at {url}")
    raise typer.Exit(1)
