"""Checks a setup end to end and says what to fix: config, secrets, tmux, servers, Telegram."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass

import httpx

from ccr.core.config import LocalServer, Settings, SshServer
from ccr.core.errors import CcrError
from ccr.remote.executor import Executor


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


def _tmux() -> Check:
    path = shutil.which("tmux")
    if not path:
        return Check("tmux on this machine", False, "not found",
                     "install it: sudo apt-get install tmux")
    version = subprocess.run([path, "-V"], capture_output=True, text=True, check=False)
    return Check("tmux on this machine", True, version.stdout.strip())


async def _servers(settings: Settings) -> list[Check]:
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
        return [Check(f"server {server.id} ({where})", True, f"reachable, {version}"),
                Check(f"server {server.id} transport", True if transport == "control mode"
                      else None, f"transport: {transport}",
                      "" if transport == "control mode" else
                      "commands still work (one tmux call per step); control mode needs "
                      "tmux >= 3.2 and a tmux session on that socket")]

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
        async with httpx.AsyncClient(timeout=2) as client:
            resp = await client.get(f"{url}/healthz")
        ok = resp.status_code == 200
        return Check("hub", ok if ok else None, f"{url} answers {resp.status_code}")
    except httpx.HTTPError:
        return Check("hub", None, f"not running at {url}", "start it with `ccr serve`")


async def run_checks(settings: Settings) -> list[Check]:
    checks = [*_secrets(settings), _tmux()]
    servers, telegram, hub = await asyncio.gather(
        _servers(settings), _telegram(settings), _hub(settings))
    return [*checks, *servers, *telegram, hub]
