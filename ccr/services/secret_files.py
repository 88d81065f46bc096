"""Files on this machine that hold one of ccr's secrets while others may read them.

Looked at: the systemd secrets files (`ccr service install`), this machine's hook.env (the
local server's hook reads it) and the hub's data_dir/api-token. A file counts when it holds
the secret's value as the hub knows it, or a non-empty `NAME=` line for one of the secret
variables the config names (named `[api] tokens` included). Used by the
`secret_file_readable` alert (at start and every evaluation) and by `ccr doctor`; the fix is
`chmod 600 FILE`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ccr.core.config import Settings
from ccr.services.systemd import SYSTEM_ENV_FILE, user_env_file

READ_LIMIT = 256 * 1024
"""A secrets file is small; a larger one is read only this far."""


@dataclass(frozen=True)
class ReadableSecret:
    path: Path
    mode: int
    holds: tuple[str, ...]
    """The variables whose secret it holds, e.g. ("CCR_SHARED_SECRET",)."""

    @property
    def fix(self) -> str:
        return f"chmod 600 {self.path}"

    def describe(self) -> str:
        return (f"{self.path} (mode {self.mode:04o}) holds {', '.join(self.holds)} and others "
                "on this machine may read it")


def hook_env_file() -> Path:
    """The hook.env the hook on this machine reads (see `ccr.hook.load_env`)."""
    named = os.environ.get("CCR_HOOK_ENV")
    return Path(named) if named else Path.home() / ".config" / "ccr" / "hook.env"


def candidates(settings: Settings) -> list[Path]:
    """The files looked at, each once."""
    paths = [user_env_file(), SYSTEM_ENV_FILE, hook_env_file(),
             Path(settings.hub.data_dir).expanduser() / "api-token"]
    seen: list[Path] = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return seen


def secret_names(settings: Settings) -> list[str]:
    """The shared secret, the admin API token, the bot token and each `[api] tokens` one."""
    return [settings.hub.shared_secret_env, settings.hub.api_token_env,
            settings.telegram.token_env, *(t.env for t in settings.api.tokens)]


def _holds(text: str, names: list[str], values: dict[str, str | None]) -> tuple[str, ...]:
    found = []
    assigned = {line.strip().removeprefix("export ").partition("=")[0].strip()
                for line in text.splitlines()
                if "=" in line and line.partition("=")[2].strip().strip("'\"")}
    for name in names:
        value = values.get(name)
        if name in assigned or (value and len(value) >= 8 and value in text):
            found.append(name)
    return tuple(found)


def readable_secrets(settings: Settings, paths: list[Path] | None = None,
                     ) -> list[ReadableSecret]:
    """Files holding a secret whose mode lets the group or others read or write them."""
    names = secret_names(settings)
    values = {n: settings.secret(n) for n in names}
    out = []
    for path in candidates(settings) if paths is None else paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if not mode & 0o077 or not path.is_file():
                continue
            with path.open("rb") as f:
                text = f.read(READ_LIMIT).decode("utf-8", "replace")
        except OSError:
            continue  # missing, or not ours to read: nothing we can say about it
        holds = _holds(text, names, values)
        if holds:
            out.append(ReadableSecret(path, mode, holds))
    return out
