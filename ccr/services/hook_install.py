"""ccr's hook on a machine: put it there, check it, take it out, and prove it reaches the hub.

Where things go (in the login's home, found by asking its shell for $HOME):
  ~/.local/share/ccr/hook.py      the standard-library hook (a local server uses the
                                  package's own file instead, so it never goes stale)
  ~/.config/ccr/hook.env          CCR_SERVER_ID, CCR_SHARED_SECRET, CCR_HUB_URL; mode 0600
  ~/.claude/settings.json         ($CLAUDE_CONFIG_DIR if set) ccr's entries merged in, after a
                                  backup to settings.json.ccr-backup-<timestamp>
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccr.core.errors import CcrError, RemoteError
from ccr.remote.machine import Machine, MachineError, machine_error
from ccr.services import claude_settings

HOOK_TEST_EVENT = "CcrHookTest"
"""The hook event name of `ccr servers add/test`'s proof: the hub records it (the server's
last hook time) and answers `{"status": "test"}`; no session, no message to anyone."""
HOOK_FILE = ".local/share/ccr/hook.py"
ENV_FILE = ".config/ccr/hook.env"
OWNED_KEYS = ("CCR_SERVER_ID", "CCR_SHARED_SECRET", "CCR_HUB_URL")

_SURVEY = ('printf "%s\\n" "$HOME" "${CLAUDE_CONFIG_DIR:-}" '
           '"$(command -v python3 || true)" "$(command -v tmux || true)"')

# Run on the machine with its python3: load the installed hook module, let it read its own
# settings (hook.env) and sign a test event as it signs every event, post it to the URL it
# would use, and print what happened as one JSON line. Argument: the hook's directory.
PROOF = """
import json, sys, time, urllib.error, urllib.request, uuid
sys.path.insert(0, sys.argv[1])
import hook
env = hook.load_env()
url, secret, sid = (env.get(k, "") for k in ("CCR_HUB_URL", "CCR_SHARED_SECRET", "CCR_SERVER_ID"))
out = {"url": url, "server": sid, "status": -1}
if url and secret and sid:
    body = json.dumps({"event_id": "ccr-test-" + uuid.uuid4().hex, "server_id": sid,
                       "hook_event_name": sys.argv[2], "created_at": time.time()}).encode()
    ts = str(int(time.time()))
    req = urllib.request.Request(url.rstrip("/") + "/notify", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-CCR-Timestamp": ts,
                 "X-CCR-Signature": hook.sign(secret, ts, body)})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            out["status"], out["body"] = resp.status, resp.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        out["status"], out["body"] = exc.code, exc.read(2000).decode("utf-8", "replace")
    except Exception as exc:
        out["status"], out["error"] = 0, f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


@dataclass(frozen=True)
class HookSource:
    """The hook as this ccr ships it (read by the face: services never import ccr.hook)."""

    code: bytes
    """ccr/hook.py's bytes, copied to SSH servers."""
    local_path: str
    """ccr/hook.py itself: a local server's hook runs the package's file."""
    local_command: str
    """The command that runs it locally (`ccr hook --print-settings` prints the same)."""
    snippet: Callable[[str], dict[str, Any]]
    """hook.settings_snippet: the settings.json hooks block for a command."""
    command: Callable[[str, str], str]
    """hook.fast_command: the command running a python with the hook from a directory."""


@dataclass(frozen=True)
class Layout:
    """Where ccr's pieces live on one machine."""

    home: str
    claude_dir: str
    python: str
    tmux: str
    hook_path: str
    copied: bool
    """True when ccr copies the hook there (SSH servers); False: the package's own file."""
    command: str

    @property
    def settings_path(self) -> str:
        return f"{self.claude_dir}/settings.json"

    @property
    def env_path(self) -> str:
        return f"{self.home}/{ENV_FILE}"

    @property
    def hook_dir(self) -> str:
        return self.hook_path.rsplit("/", 1)[0]


async def survey(machine: Machine, source: HookSource, *, local: bool) -> Layout:
    """Ask the machine's shell where home, Claude's settings, python3 and tmux are."""
    try:
        found = await machine.run(_SURVEY)
    except MachineError as exc:
        raise machine_error(machine, "look around the login's home", exc) from None
    lines = [*found.out.split("\n"), "", "", "", ""][:4]
    home, claude_dir, python, tmux = (line.strip() for line in lines)
    if found.code != 0 or not home.startswith("/"):
        raise RemoteError("hook_install_failed", server=machine.server_id,
                          action="find the login's home directory",
                          detail=(found.err.strip() or f"$HOME is {home!r}")[:300],
                          user="the login")
    if local:
        hook_path, command = source.local_path, source.local_command
    else:
        hook_path = f"{home}/{HOOK_FILE}"
        command = source.command(python or "python3", hook_path.rsplit("/", 1)[0])
    return Layout(home=home, claude_dir=claude_dir or f"{home}/.claude", python=python,
                  tmux=tmux, hook_path=hook_path, copied=not local, command=command)


def env_text(current: bytes | None, values: dict[str, str], server_id: str) -> bytes:
    """hook.env with ccr's keys set; the person's other lines kept."""
    kept = []
    for line in (current or b"").decode("utf-8", "replace").splitlines():
        key = line.partition("=")[0].strip()
        if key not in OWNED_KEYS and not line.startswith("# Written by `ccr servers add`"):
            kept.append(line)
    head = [f"# Written by `ccr servers add` for server {server_id}; read by ccr's hook."]
    body = [f"{k}={values[k]}" for k in OWNED_KEYS]
    return ("\n".join(head + body + kept) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Installed:
    hook: str
    """"copied", "up to date" or "the package's own file"."""
    settings: str
    """"added", "updated" or "already in place"."""
    backup: str | None
    env: str


def _backup_name(path: str) -> str:
    return f"{path}.ccr-backup-{time.strftime('%Y%m%d-%H%M%S')}"


async def _settings(machine: Machine, layout: Layout) -> tuple[bytes | None,
                                                              claude_settings.Settings]:
    raw = await machine.read(layout.settings_path)
    try:
        return raw, claude_settings.parse(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CcrError("claude_settings_invalid", path=layout.settings_path,
                       server=machine.server_id, detail=str(exc)[:200]) from None


async def install(machine: Machine, layout: Layout, source: HookSource, *,
                  server_id: str, secret: str, hub_url: str) -> Installed:
    """Put the hook, its settings and ccr's settings.json entries in place; safe to repeat."""
    action = "copy the hook"
    try:
        hook_state = "the package's own file"
        if layout.copied:
            if await machine.read(layout.hook_path) == source.code:
                hook_state = "up to date"
            else:
                await machine.write(layout.hook_path, source.code, mode=0o700)
                hook_state = "copied"
        action = "write hook.env"
        env_now = await machine.read(layout.env_path)
        env_new = env_text(env_now, {"CCR_SERVER_ID": server_id, "CCR_SHARED_SECRET": secret,
                                     "CCR_HUB_URL": hub_url}, server_id)
        if env_now != env_new or await machine.mode(layout.env_path) != 0o600:
            await machine.write(layout.env_path, env_new, mode=0o600)
            env_state = "written (owner-only)"
        else:
            env_state = "already in place"
        action = "update Claude Code's settings.json"
        raw, settings = await _settings(machine, layout)
        merged, changed = claude_settings.merge(settings, source.snippet(layout.command))
        backup = None
        if changed:
            if raw is not None:
                backup = _backup_name(layout.settings_path)
                await machine.write(backup, raw, mode=0o600)
            await machine.write(layout.settings_path, claude_settings.dump(merged),
                                mode=await machine.mode(layout.settings_path) or 0o600)
            state = "updated" if claude_settings.has_ours(settings) else "added"
        else:
            state = "already in place"
    except MachineError as exc:
        raise machine_error(machine, action, exc) from None
    return Installed(hook=hook_state, settings=state, backup=backup, env=env_state)


@dataclass(frozen=True)
class Uninstalled:
    removed: int
    backup: str | None
    env_removed: bool
    hook_removed: bool


async def uninstall(machine: Machine, layout: Layout) -> Uninstalled:
    """Take ccr's entries out of settings.json (backup first), remove hook.env and the copy."""
    action = "update Claude Code's settings.json"
    try:
        raw, settings = await _settings(machine, layout)
        stripped, removed = claude_settings.strip(settings)
        backup = None
        if removed and raw is not None:
            backup = _backup_name(layout.settings_path)
            await machine.write(backup, raw, mode=0o600)
            await machine.write(layout.settings_path, claude_settings.dump(stripped),
                                mode=await machine.mode(layout.settings_path) or 0o600)
        action = "remove hook.env"
        env_removed = await machine.remove(layout.env_path)
        hook_removed = False
        if layout.copied:
            action = "remove the hook"
            hook_removed = await machine.remove(layout.hook_path)
    except MachineError as exc:
        raise machine_error(machine, action, exc) from None
    return Uninstalled(removed=removed, backup=backup, env_removed=env_removed,
                       hook_removed=hook_removed)


@dataclass(frozen=True)
class Finding:
    """One line of `ccr servers test`: what was checked, how it went, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _env_values(raw: bytes | None) -> dict[str, str]:
    out = {}
    for line in (raw or b"").decode("utf-8", "replace").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("CCR_"):
            out[key.strip()] = value.strip().strip("'\"")
    return out


async def inspect(machine: Machine, layout: Layout, source: HookSource, *, server_id: str,
                  hub_url: str, secret: str | None) -> list[Finding]:
    """Is everything in place? One finding per piece, each with its fix."""
    again = f"run `ccr servers add {server_id} ...` again"
    found = []
    if layout.copied:
        code = await machine.read(layout.hook_path)
        if code is None:
            found.append(Finding("hook installed", False, f"{layout.hook_path} is missing",
                                 again))
        elif code != source.code:
            digest = hashlib.sha256(code).hexdigest()[:12]
            found.append(Finding("hook installed", False, f"{layout.hook_path} is another "
                                 f"version (sha256 {digest}…)", again + " to update it"))
        else:
            found.append(Finding("hook installed", True, layout.hook_path))
    else:
        found.append(Finding("hook installed", True, f"{layout.hook_path} (ccr's own)"))
    raw_env = await machine.read(layout.env_path)
    env = _env_values(raw_env)
    mode = await machine.mode(layout.env_path)
    wrong = [k for k, want in (("CCR_SERVER_ID", server_id), ("CCR_HUB_URL", hub_url),
                               ("CCR_SHARED_SECRET", secret)) if want and env.get(k) != want]
    if raw_env is None:
        found.append(Finding("hook.env", False, f"{layout.env_path} is missing", again))
    elif wrong or mode != 0o600:
        why = ([f"{', '.join(wrong)} not as the hub expects"] if wrong else []) + (
            [f"mode {mode:o}, not 600"] if mode != 0o600 else [])
        found.append(Finding("hook.env", False, "; ".join(why), again))
    else:
        found.append(Finding("hook.env", True, f"{layout.env_path} (600), posts to {hub_url}"))
    try:
        _, settings = await _settings(machine, layout)
    except CcrError as exc:
        found.append(Finding("Claude Code settings", False, exc.message, " ".join(exc.steps)))
        return found
    gaps = claude_settings.missing(settings, source.snippet(layout.command))
    if gaps:
        found.append(Finding("Claude Code settings", False,
                             f"ccr's entries missing for {', '.join(gaps)} in "
                             f"{layout.settings_path} ({claude_settings.why_missing(gaps)})",
                             again))
    else:
        found.append(Finding("Claude Code settings", True,
                             f"ccr's entries present in {layout.settings_path}"))
    return found


@dataclass(frozen=True)
class Proof:
    """What the installed hook got back when it posted the test event."""

    status: int
    """HTTP status; 0: the hub could not be reached; -1: the hook has no settings."""
    url: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == 200


async def prove(machine: Machine, layout: Layout) -> Proof:
    """Run the installed hook's own code on the machine to post a test event to the hub."""
    command = shlex.join([layout.python or "python3", "-c", PROOF, layout.hook_dir,
                          HOOK_TEST_EVENT])
    try:
        ran = await machine.run(command, within_s=20)
    except MachineError as exc:
        raise machine_error(machine, "run the hook", exc) from None
    try:
        data = json.loads(ran.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Proof(-2, "", (ran.err.strip() or ran.out.strip() or "no output")[-300:])
    detail = str(data.get("error") or data.get("body") or "")
    if data.get("status") == -1:
        detail = "hook.env lacks CCR_HUB_URL, CCR_SERVER_ID or CCR_SHARED_SECRET"
    return Proof(int(data.get("status", -2)), str(data.get("url", "")), detail[:300])
