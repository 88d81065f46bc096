"""Checks a setup end to end and says what to fix: config, secrets, tmux, servers, Telegram,
and on each server the Claude Code found there and whether its settings hold ccr's hooks."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ccr.core.config import LocalServer, Settings, SshServer
from ccr.core.errors import CcrError
from ccr.core.plain_http import no_ca_store
from ccr.remote.executor import Executor
from ccr.remote.forward import hook_path
from ccr.services.claude_settings import is_ccr_command, why_missing
from ccr.services.secret_files import readable_secrets


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: a warning, not a failure
    detail: str
    fix: str = ""


def _secrets(settings: Settings) -> list[Check]:
    out = []
    hub = settings.hub
    env = hub.shared_secret_env
    out.append(Check(f"shared secret (${env})", settings.secret(env) is not None,
                     "set" if settings.secret(env) else "not set",
                     "" if settings.secret(env) else f"export {env}=$(openssl rand -hex 32) "
                     "and give the same value to each server's hook"))
    env = hub.api_token_env
    has = settings.secret(env) is not None
    out.append(Check(f"API token (${env})", True if has else None,
                     "set" if has else "not set: the hub makes one per run in data_dir/api-token",
                     "" if has else f"export {env}=... to use the API from other machines"))
    return out


def _secret_files(settings: Settings) -> list[Check]:
    """Each file holding a secret that others on this machine may read, with the fix."""
    found = readable_secrets(settings)
    if not found:
        return [Check("secret files", True, "none readable by others")]
    return [Check(f"secret file {f.path}", False,
                  f"mode {f.mode:04o}: others may read the {', '.join(f.holds)} it holds",
                  f"{f.fix}, then consider changing that secret") for f in found]


def _tmux() -> Check:
    path = shutil.which("tmux")
    if not path:
        return Check("tmux on this machine", False, "not found",
                     "install it: sudo apt-get install tmux")
    version = subprocess.run([path, "-V"], capture_output=True, text=True, check=False)
    return Check("tmux on this machine", True, version.stdout.strip())


# --- Claude Code on each server ---------------------------------------------------------

CLAUDE_PROBE = r"""
PATH="$PATH:$HOME/.local/bin:$HOME/.claude/local:$HOME/.npm-global/bin:/usr/local/bin"
printf '@ccr-home %s\n' "$HOME"
if command -v claude >/dev/null 2>&1; then
  if command -v timeout >/dev/null 2>&1; then
    v=$(timeout 10 claude --version 2>&1 </dev/null | head -n 1)
  else
    v=$(claude --version 2>&1 </dev/null | head -n 1)
  fi
  printf '@ccr-version %s\n' "${v:-?}"
else
  printf '@ccr-version\n'
fi
f="$HOME/.claude/settings.json"
if [ -f "$f" ]; then
  printf '@ccr-settings present\n'
  head -c 1000000 "$f"
else
  printf '@ccr-settings absent\n'
fi
"""
"""Run with `sh -c` on the server (locally or over SSH): where HOME is, what `claude
--version` says (nothing: not installed), and ~/.claude/settings.json as it stands. The
usual install places are searched too, since an SSH command's PATH is often shorter."""
SETTINGS = "~/.claude/settings.json"
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?")


@dataclass(frozen=True)
class ClaudeProbe:
    """What the probe found on one machine."""

    home: str
    version: str | None
    """The first line of `claude --version`; None: no `claude` found."""
    settings: str | None
    """The settings file's text; None: there is none."""


def parse_probe(output: str) -> ClaudeProbe:
    home, version, settings = "", None, None
    lines = output.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("@ccr-home "):
            home = line.removeprefix("@ccr-home ").strip()
        elif line.startswith("@ccr-version"):
            version = line.removeprefix("@ccr-version").strip() or None
        elif line.startswith("@ccr-settings "):
            if line.endswith("present"):
                settings = "\n".join(lines[i + 1:])
            break
    return ClaudeProbe(home, version, settings)


def is_ccr_hook(command: object) -> bool:
    """`ccr hook`, `python -m ccr.hook`, `python3 .../hook.py`, the fast `-I -S -c` form."""
    return is_ccr_command(command)


def hooked_events(settings_text: str) -> set[str]:
    """The hook events whose entries in a settings.json run ccr's hook. Raises ValueError
    when the text is not a JSON object."""
    data = json.loads(settings_text) if settings_text.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")
    hooks = data.get("hooks")
    found: set[str] = set()
    if not isinstance(hooks, dict):
        return found
    for event, blocks in hooks.items():
        for block in blocks if isinstance(blocks, list) else []:
            entries = block.get("hooks") if isinstance(block, dict) else None
            if any(isinstance(h, dict) and is_ccr_hook(h.get("command"))
                   for h in entries or []):
                found.add(str(event))
    return found


def claude_checks(server: LocalServer | SshServer, probe: ClaudeProbe,
                  wanted: Sequence[str]) -> list[Check]:
    """The Claude Code version found, and which of ccr's hook events its settings lack."""
    name = f"server {server.id}"
    there = "on this machine" if isinstance(server, LocalServer) else f"on {server.id}"
    path = f"{probe.home.rstrip('/')}/.claude/settings.json" if probe.home else SETTINGS
    merge = (f"merge the \"hooks\" that `ccr hook --print-settings` prints into {path} "
             "(keep hooks of your own; where only hook.py is installed, `python3 hook.py "
             "--print-settings`), then restart Claude Code")
    fix = f"{there}, {merge}"
    if probe.version is None:
        version = Check(f"{name} Claude Code", None, f"not found {there}",
                        "install it there (`npm install -g @anthropic-ai/claude-code`); "
                        "until then that machine has no sessions to relay")
    elif _VERSION.search(probe.version):
        version = Check(f"{name} Claude Code", True, probe.version[:80])
    else:
        version = Check(f"{name} Claude Code", None,
                        f"`claude --version` said: {probe.version[:160]}",
                        f"run `claude --version` {there} to see what is wrong")
    installed = version.ok is not None
    if probe.settings is None:
        return [version, Check(f"{name} Claude hooks", False if installed else None,
                               f"no {path}: none of ccr's hooks", fix)]
    try:
        hooked = hooked_events(probe.settings)
    except ValueError as exc:
        return [version, Check(f"{name} Claude hooks", False if installed else None,
                               f"{path} is not valid JSON ({str(exc)[:120]})",
                               f"fix it by hand {there}, then {merge}")]
    missing = [e for e in wanted if e not in hooked]
    if not missing:
        return [version, Check(f"{name} Claude hooks", True,
                               f"ccr's hooks for all {len(wanted)} events in {path}")]
    if len(missing) == len(wanted):
        return [version, Check(f"{name} Claude hooks", False if installed else None,
                               f"none of ccr's hooks in {path}", fix)]
    return [version, Check(f"{name} Claude hooks", None,
                           f"missing in {path}: {', '.join(missing)} ({why_missing(missing)})",
                           fix)]


async def _claude(executor: Executor, server: LocalServer | SshServer,
                  wanted: Sequence[str]) -> list[Check]:
    try:
        done = await executor.run_program(server.id, ["sh", "-c", CLAUDE_PROBE])
    except CcrError as exc:
        return [Check(f"server {server.id} Claude Code", None,
                      f"could not look ({exc.message})", " ".join(exc.steps))]
    if "@ccr-version" not in done.stdout:
        why = (done.stderr.strip() or f"exit status {done.status}")[:200]
        return [Check(f"server {server.id} Claude Code", None, f"could not look ({why})")]
    return claude_checks(server, parse_probe(done.stdout), wanted)


async def _servers(settings: Settings, hook_events: Sequence[str] = ()) -> list[Check]:
    executor = Executor(list(settings.servers), settings.executor)
    out: list[Check] = []

    async def one(server: LocalServer | SshServer) -> list[Check]:
        where = "local" if isinstance(server, LocalServer) else (
            f"{server.user}@{server.host}:{server.port}")
        try:
            version = await executor.probe(server.id)
        except CcrError as exc:
            return [Check(f"server {server.id} ({where})", False, exc.message,
                          " ".join(exc.steps))]
        try:
            transport = await executor.check_transport(server.id)
        except CcrError as exc:
            transport = f"exec ({exc.message})"
        claude = await _claude(executor, server, hook_events) if hook_events else []
        return [Check(f"server {server.id} ({where})", True, f"reachable, {version}"),
                Check(f"server {server.id} transport", True if transport == "control mode"
                      else None, f"transport: {transport}",
                      "" if transport == "control mode" else
                      "commands still work (one tmux call per step); control mode needs "
                      "tmux >= 3.2 and a tmux session on that socket"),
                *claude]

    try:
        out = [c for group in await asyncio.gather(*(one(s) for s in settings.servers))
               for c in group]
    finally:
        await executor.close()
    if not settings.servers:
        out.append(Check("servers", False, "no [[servers]] in the config",
                         "add at least one, e.g. a local one: id = \"laptop\", kind = \"local\""))
    return out


async def _telegram(settings: Settings) -> list[Check]:
    cfg = settings.telegram
    token = settings.secret(cfg.token_env)
    if not token:
        return [Check(f"Telegram token (${cfg.token_env})", None,
                      "not set: the hub runs without Telegram",
                      f"create a bot with @BotFather and export {cfg.token_env}=...")]
    base = (cfg.base_url or "https://api.telegram.org/bot") + token
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.get(f"{base}/getMe")
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        return [Check("Telegram", False, f"cannot reach the Bot API ({type(exc).__name__})",
                      "check the network or [telegram] base_url")]
    if not data.get("ok"):
        return [Check("Telegram token", False, str(data.get("description", "rejected")),
                      f"check {cfg.token_env}: copy the token from @BotFather again")]
    checks = [Check("Telegram token", True, f"bot @{data['result'].get('username')}")]
    checks.append(Check("Telegram allowed_chats", bool(cfg.allowed_chats),
                        f"{len(cfg.allowed_chats)} chat(s)" if cfg.allowed_chats else "empty",
                        "" if cfg.allowed_chats else "add your chat id to [telegram] "
                        "allowed_chats (the hub's log names chats it ignored)"))
    return checks


async def _hub(settings: Settings) -> Check:
    url = settings.hub.url
    try:
        async with httpx.AsyncClient(timeout=2, verify=no_ca_store()) as client:
            resp = await client.get(f"{url}/healthz")
        ok = resp.status_code == 200
        return Check("hub", ok if ok else None, f"{url} answers {resp.status_code}")
    except httpx.HTTPError:
        return Check("hub", None, f"not running at {url}", "start it with `ccr serve`")


async def _hooks(settings: Settings, server: SshServer, hub_up: bool) -> Check:
    """From the server's side, what its hook meets at its hub URL (`hook_url_for`)."""
    url = urlsplit(settings.hook_url_for(server))
    host, port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)
    name = f"server {server.id} hooks"
    via = (f"127.0.0.1:{server.hooks_port} there (hooks_via = \"ssh\")"
           if server.hooks_via == "ssh" else f"{url.geturl()} (hooks_via = \"direct\")")
    path = await hook_path(server, host, port, within_s=settings.executor.connect_timeout_s,
                           http=url.scheme != "https")
    if path.outcome == "hub":
        lead = "the hub's forward leads" if server.hooks_via == "ssh" else "it leads"
        return Check(name, True, f"{via}: {lead} to the hub ({path.detail})")
    if path.outcome == "unreachable":
        return Check(name, None, f"{via}: not checked ({path.detail})")
    if path.outcome == "prohibited":
        return Check(name, False, f"{via}: {server.id}'s sshd forbids TCP forwarding "
                                  f"({path.detail})",
                     "set AllowTcpForwarding yes in its sshd_config (or drop `restrict`/"
                     "`no-port-forwarding` from the hub's key there)")
    if path.outcome == "refused" and server.hooks_via == "ssh" and not hub_up:
        return Check(name, None, f"{via}: no forward while the hub is not running; hooks "
                                 "there spool until it is", "start it with `ccr serve`")
    if path.outcome == "refused" and server.hooks_via == "ssh":
        return Check(name, False, f"{via}: nothing listens there, the hub's forward is down",
                     f"read the hub's log lines 'hook forward for {server.id}'; hooks there "
                     "spool until the forward is back")
    if path.outcome == "refused":
        return Check(name, False, f"{via}: {server.id} cannot reach the hub ({path.detail})",
                     "make [hub] hook_url reachable from there, or use hooks_via = \"ssh\"")
    return Check(name, False, f"{via}: something that is not the hub answers ({path.detail})",
                 f"free port {port} there, or set [[servers]] hooks_port to a free one and "
                 "reinstall the hook" if server.hooks_via == "ssh"
                 else "check [hub] hook_url")


async def run_checks(settings: Settings, hook_events: Sequence[str] = ()) -> list[Check]:
    """Every check; `hook_events` are the events ccr's hook subscribes to (what `ccr hook
    --print-settings` prints), looked for in each server's Claude settings."""
    checks = [*_secrets(settings), *_secret_files(settings), _tmux()]
    servers, telegram, hub = await asyncio.gather(
        _servers(settings, hook_events), _telegram(settings), _hub(settings))
    reached = {c.name.split()[1] for c in servers if c.ok and c.name.startswith("server ")}
    hooks = await asyncio.gather(*(_hooks(settings, s, hub.ok is True)
                                   for s in settings.servers
                                   if isinstance(s, SshServer) and s.id in reached))
    return [*checks, *servers, *hooks, *telegram, hub]
