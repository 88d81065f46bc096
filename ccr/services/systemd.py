"""`ccr serve` as a systemd service: the unit, the secrets' environment file, and where they go.

The unit restarts the hub on failure and stops it with SIGTERM (the hub drains and keeps its
promises across the restart). Secrets never go in the unit (it is world-readable): they live
in an environment file readable only by its owner, named by `EnvironmentFile=`.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ccr.core.config import Settings

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_ENV_FILE = Path("/etc/ccr/ccr.env")
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.,:/@+=%-]*$")


def systemd_running() -> bool:
    """True on a machine booted with systemd (what sd_booted() checks)."""
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def user_unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def user_env_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ccr" / "ccr.env"


def ccr_command() -> list[str]:
    """The absolute command that runs this ccr: the `ccr` script installed beside this
    Python (a virtualenv's bin/), else `<this python> -m ccr`. Not a PATH lookup: that may
    find a version manager's shim, which needs a login shell's environment to work."""
    python = Path(sys.executable).absolute()
    script = python.parent / "ccr"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [str(python), "-m", "ccr"]


def secret_names(settings: Settings) -> list[str]:
    """The environment variables the config names for its secrets."""
    names = [settings.hub.shared_secret_env, settings.hub.api_token_env,
             settings.telegram.token_env]
    return list(dict.fromkeys(names))


def _quote(arg: str) -> str:
    """One ExecStart= word (systemd splits on spaces and honours double quotes)."""
    if arg and _SAFE_VALUE.match(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class UnitPlan:
    """What `ccr service install` writes, and where."""

    name: str
    user_mode: bool
    unit_path: Path
    env_path: Path
    exec_start: list[str]
    run_as: str | None
    """User= of a system unit (None for a user unit: it runs as its owner)."""

    def unit_text(self) -> str:
        target = "default.target" if self.user_mode else "multi-user.target"
        lines = [
            "[Unit]",
            "Description=ccr hub (Claude Code sessions from Telegram, console and CLI)",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            f"ExecStart={' '.join(_quote(a) for a in self.exec_start)}",
            f"EnvironmentFile={self.env_path}",
            "Environment=PYTHONUNBUFFERED=1",
            "Restart=on-failure",
            "RestartSec=5",
            "KillSignal=SIGTERM",
            "TimeoutStopSec=30",
        ]
        if self.run_as is not None:
            lines.append(f"User={self.run_as}")
        lines += ["", "[Install]", f"WantedBy={target}", ""]
        return "\n".join(lines)


def plan(settings: Settings, config: Path, *, user_mode: bool, name: str = "ccr",
         unit_dir: Path | None = None, env_file: Path | None = None) -> UnitPlan:
    """The unit for this config: `ccr serve --config <absolute path>`."""
    unit_dir = unit_dir or (user_unit_dir() if user_mode else SYSTEM_UNIT_DIR)
    env_path = env_file or (user_env_file() if user_mode else SYSTEM_ENV_FILE)
    run_as = None if user_mode else (os.environ.get("SUDO_USER") or getpass.getuser())
    return UnitPlan(name=name, user_mode=user_mode,
                    unit_path=unit_dir.expanduser().absolute() / f"{name}.service",
                    env_path=env_path.expanduser().absolute(),
                    exec_start=[*ccr_command(), "serve", "--config",
                                str(config.expanduser().resolve())],
                    run_as=run_as)


@dataclass
class EnvFileResult:
    path: Path
    kept: list[str] = field(default_factory=list)
    """Secrets already in the file (left as they were)."""
    added: list[str] = field(default_factory=list)
    """Secrets copied from this shell's environment."""
    missing: list[str] = field(default_factory=list)
    """Secrets in neither: the hub starts without them (or refuses, for the shared secret)."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (quotes taken off); comments and blank lines skipped."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key.strip()] = value
    return out


def write_env_file(path: Path, names: list[str],
                   environ: dict[str, str] | None = None) -> EnvFileResult:
    """Create or complete the secrets file, mode 0600: values already there are kept, missing
    ones are taken from the environment; a name in neither is left as a comment."""
    environ = dict(os.environ) if environ is None else environ
    current = read_env_file(path)
    result = EnvFileResult(path)
    values: dict[str, str] = {}
    for name in names:
        if current.get(name):
            values[name] = current[name]
            result.kept.append(name)
        elif environ.get(name):
            values[name] = environ[name]
            result.added.append(name)
        else:
            result.missing.append(name)
    others = {k: v for k, v in current.items() if k not in names}
    lines = ["# Secrets for the ccr hub (systemd EnvironmentFile=); keep this file mode 0600."]
    for key, value in [*values.items(), *others.items()]:
        lines.append(f"{key}={_env_value(value)}")
    lines += [f"# {name}=" for name in result.missing]
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write("\n".join(lines) + "\n")
    return result


def _env_value(value: str) -> str:
    if _SAFE_VALUE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_unit(unit: UnitPlan) -> None:
    unit.unit_path.parent.mkdir(parents=True, exist_ok=True)
    unit.unit_path.write_text(unit.unit_text(), encoding="utf-8")
    unit.unit_path.chmod(0o644)


def env_file_private(path: Path) -> tuple[bool, str]:
    """(ok, what) for the secrets file: it exists, belongs to us and only we can read it."""
    try:
        st = path.stat()
    except OSError:
        return False, "missing"
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != os.getuid():
        return False, f"owned by uid {st.st_uid}, not by you"
    if mode & 0o077:
        return False, f"mode {mode:04o}: others can read it (chmod 600 {path})"
    return True, f"mode {mode:04o}, yours only"


def systemctl(user_mode: bool, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["systemctl", *(["--user"] if user_mode else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def unit_settings(path: Path) -> dict[str, str]:
    """The unit file's Key=value lines (last wins), for `ccr service status`."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", ";", "[")):
            out[key.strip()] = value.strip()
    return out
