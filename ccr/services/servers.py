"""`ccr servers add / test / remove / list`: one command per server, from SSH login to proof.

add: parse the target, check ccr.toml can take it (validated by the real parser), verify the
host key (an unknown one only with the person's yes or --accept-new; a changed one never),
install the hook, write the entry, tell the running hub, and prove the installed hook
reaches it. Each step is safe to repeat, so `add` run twice changes nothing.
"""

from __future__ import annotations

import asyncio
import getpass
import re
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ccr.core.config import SERVER_ID_PATTERN, LocalServer, Settings, SshServer
from ccr.core.errors import CcrError, ConfigError, InputError, RemoteError
from ccr.remote import hostkeys
from ccr.remote.machine import LocalMachine, Machine, connect
from ccr.services import config_file, hook_install
from ccr.services.hook_install import HookSource, Layout

CONNECT_TIMEOUT_S = 15.0
PROOF_WAIT_S = 15.0
"""How long `add` keeps trying when the hub cannot be reached yet from the server (a hooks
port forward that is still being opened)."""
_LOOPBACK = ("127.", "localhost", "::1", "[::1]")


class Ui(Protocol):
    """How a face shows progress and asks (the CLI: rich status lines and a prompt)."""

    def step(self, text: str) -> AbstractContextManager[None]:
        """A long step in progress."""

    def ok(self, text: str) -> None: ...

    def bad(self, text: str, fix: str = "") -> None: ...

    def note(self, text: str) -> None: ...

    def confirm(self, question: str) -> bool | None:
        """The person's answer; None when nobody can be asked (no terminal)."""


class HubLink(Protocol):
    """The running hub's API, as far as these commands need it."""

    def running(self) -> bool: ...

    def servers(self) -> list[dict[str, Any]]: ...

    def sync(self, server_id: str, config: str) -> dict[str, Any]:
        """POST /api/servers/sync; the answer's JSON (an "error" key when refused)."""


class Problem(Exception):
    """A failure told by the hub or found by a check, with its recovery steps."""

    def __init__(self, message: str, steps: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.steps = list(steps)


@dataclass(frozen=True)
class Target:
    """Where a server is: `local`, or USER@HOST with the SSH options."""

    local: bool
    user: str = ""
    host: str = ""
    port: int = 22
    identity: Path | None = None
    known_hosts: Path | None = None
    hooks_via: str | None = None
    hooks_port: int | None = None

    @staticmethod
    def parse(text: str, *, port: int | None = None, identity: Path | None = None,
              known_hosts: Path | None = None, hooks_via: str | None = None,
              hooks_port: int | None = None) -> Target:
        if text == "local":
            if any(v is not None for v in (port, identity, known_hosts, hooks_port)):
                raise InputError("server_target_invalid", target=text,
                                 detail="--port, --identity, --known-hosts and --hooks-port "
                                        "are for SSH servers")
            return Target(local=True)
        user, at, host = text.rpartition("@")
        if not at:
            user, host = getpass.getuser(), text
        if not host or not user or re.search(r"[\s/@]", host + user):
            raise InputError("server_target_invalid", target=text,
                             detail="expected USER@HOST")
        host = host.strip("[]")
        return Target(local=False, user=user, host=host, port=port or 22,
                      identity=_absolute(identity), known_hosts=_absolute(known_hosts),
                      hooks_via=hooks_via, hooks_port=hooks_port)

    def entry(self, server_id: str) -> dict[str, Any]:
        """The `[[servers]]` table written for it: only what differs from the defaults."""
        if self.local:
            return {"id": server_id, "kind": "local"}
        out: dict[str, Any] = {"id": server_id, "kind": "ssh", "host": self.host}
        if self.port != 22:
            out["port"] = self.port
        out["user"] = self.user
        for key, value in (("identity", self.identity), ("known_hosts", self.known_hosts)):
            if value is not None:
                out[key] = str(value)
        if self.hooks_via is not None:
            out["hooks_via"] = self.hooks_via
        if self.hooks_port is not None:
            out["hooks_port"] = self.hooks_port
        return out


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()


def _check_id(server_id: str) -> None:
    if not re.fullmatch(SERVER_ID_PATTERN, server_id):
        raise InputError("server_target_invalid", target=server_id,
                         detail="an id is 1-32 of a-z, 0-9 and -, starting with a letter or "
                                "digit (it names the server in handles like kr4:1)")


def _home(path: str, layout: Layout) -> str:
    return "~" + path[len(layout.home):] if path.startswith(layout.home + "/") else path


# --- connecting ------------------------------------------------------------------------------


async def _trust(server: SshServer, ui: Ui, *, accept_new: bool) -> None:
    """Verify the host key; an unknown one is recorded only on the person's word."""
    with ui.step(f"Asking {server.host}:{server.port} for its host key…"):
        offered = await hostkeys.offered_key(server, within_s=CONNECT_TIMEOUT_S)

    def refusal(code: str) -> RemoteError:
        return RemoteError(code, sent=False, server=server.id, host=server.host,
                           port=server.port, known_hosts=str(server.known_hosts),
                           fingerprint=offered.fingerprint, key_type=offered.key_type)

    if offered.verdict == "known":
        ui.ok(f"host key {offered.fingerprint} is known ({server.known_hosts})")
        return
    if offered.verdict == "changed":
        raise refusal("host_key_mismatch")
    if not accept_new:
        answer = ui.confirm(f"{server.host}:{server.port} is not in {server.known_hosts}. "
                            f"Its {offered.key_type} host key fingerprint is\n  "
                            f"{offered.fingerprint}\nIs this the server's key? Trust it")
        if not answer:
            raise refusal("host_key_unconfirmed")
    hostkeys.record(server.known_hosts, server.host, server.port, offered.key)
    ui.ok(f"host key {offered.fingerprint} trusted and recorded in {server.known_hosts}")


async def _open(server: LocalServer | SshServer, ui: Ui) -> Machine:
    if isinstance(server, LocalServer):
        return LocalMachine(server.id)
    with ui.step(f"Logging in to {server.user}@{server.host}:{server.port}…"):
        machine = await connect(server, within_s=CONNECT_TIMEOUT_S)
    ui.ok(f"logged in as {server.user}@{server.host}:{server.port} (key {server.identity})")
    return machine


# --- add -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddRequest:
    server_id: str
    target: Target
    config: Path
    accept_new: bool = False


async def add(req: AddRequest, ui: Ui, hub: HubLink, source: HookSource) -> bool:
    """Add a server end to end; True when the hook was proven to reach the running hub."""
    _check_id(req.server_id)
    current = config_file.read(req.config)
    settings = current.settings() if current.exists else None
    existing = settings.server(req.server_id) if settings is not None else None
    new_text = None
    if existing is not None:
        wanted = config_file.with_server(
            config_file.ConfigText(req.config, "", False), req.target.entry(req.server_id))
        proposed = config_file.ConfigText(req.config, wanted, True).settings().servers[0]
        if not config_file.same_target(existing, proposed):
            raise InputError("server_exists", server=req.server_id, path=str(req.config),
                             existing=config_file.target_of(existing),
                             target=config_file.target_of(proposed))
        server, new_settings = existing, settings
    else:
        new_text = config_file.with_server(current, req.target.entry(req.server_id))
        new_settings = config_file.ConfigText(req.config, new_text, True).settings()
        found = new_settings.server(req.server_id)
        assert found is not None
        server = found
    assert new_settings is not None
    secret_env = new_settings.hub.shared_secret_env
    secret = new_settings.secret(secret_env)
    if secret is None:
        raise ConfigError("secret_missing", env=secret_env,
                          purpose="the installed hook signs its events with it")
    hub_url = new_settings.hook_url_for(server)
    _warn_unreachable_url(server, hub_url, ui)

    if isinstance(server, SshServer):
        await _trust(server, ui, accept_new=req.accept_new)
    machine = await _open(server, ui)
    try:
        with ui.step("Installing the hook…"):
            layout = await hook_install.survey(machine, source, local=isinstance(server,
                                                                                 LocalServer))
            if not layout.python and not isinstance(server, LocalServer):
                raise RemoteError("python_missing", server=server.id)
            done = await hook_install.install(machine, layout, source, server_id=server.id,
                                              secret=secret, hub_url=hub_url)
        _report_install(done, layout, hub_url, ui)
        if not layout.tmux:
            ui.bad(f"tmux is not installed on {server.id}",
                   "install it there (Debian: sudo apt-get install tmux); ccr types into "
                   "Claude sessions through tmux")
        if new_text is not None:
            config_file.write(req.config, new_text)
            ui.ok(f"ccr.toml: [[servers]] {server.id} added to {req.config}")
        else:
            ui.ok(f"ccr.toml: {server.id} is already in {req.config} (left as it is)")
        return await _tell_hub(server, req.config, machine, layout, ui, hub)
    finally:
        await machine.close()


def _warn_unreachable_url(server: LocalServer | SshServer, url: str, ui: Ui) -> None:
    """A direct hook URL on the hub's loopback only works from the hub's own machine."""
    if not isinstance(server, SshServer) or server.hooks_via != "direct":
        return
    host = url.split("://", 1)[-1].rsplit(":", 1)[0]
    if host.startswith(_LOOPBACK) and not server.host.startswith(_LOOPBACK):
        ui.bad(f"the hook will post to {url}, which on {server.host} is that machine itself",
               'set [hub] hook_url to an address the server reaches, or use hooks_via = "ssh"')


def _report_install(done: hook_install.Installed, layout: Layout, url: str, ui: Ui) -> None:
    ui.ok(f"hook {done.hook}: {_home(layout.hook_path, layout)}")
    ui.ok(f"hook.env {done.env}: {_home(layout.env_path, layout)}, posts to {url}")
    backup = f" (backup: {_home(done.backup, layout)})" if done.backup else ""
    ui.ok(f"Claude Code settings: ccr's entries {done.settings} in "
          f"{_home(layout.settings_path, layout)}{backup}")


async def _tell_hub(server: LocalServer | SshServer, config: Path, machine: Machine,
                    layout: Layout, ui: Ui, hub: HubLink) -> bool:
    if not await asyncio.to_thread(hub.running):
        ui.note(f"The hub is not running: it serves {server.id} from its next start "
                "(`ccr serve`).")
        return False
    with ui.step("Telling the hub…"):
        answer = await asyncio.to_thread(hub.sync, server.id, str(config))
    problem = answer.get("error")
    if isinstance(problem, dict):
        raise Problem(str(problem.get("message")), problem.get("steps") or [])
    action = answer.get("action")
    ui.ok(f"hub: {'now serving' if action in ('added', 'changed') else 'already serves'} "
          f"{server.id}")
    return await _prove(server, machine, layout, ui, hub)


async def _prove(server: LocalServer | SshServer, machine: Machine, layout: Layout, ui: Ui,
                 hub: HubLink) -> bool:
    """Run the installed hook's code on the server with a test event; check the hub got it."""
    started = time.time() - 1
    deadline = time.monotonic() + PROOF_WAIT_S
    with ui.step(f"Sending a test event from {server.id}'s hook to the hub…"):
        while True:
            proof = await hook_install.prove(machine, layout)
            if proof.status != 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)  # a forwarded hooks port may still be opening
        seen = None
        if proof.ok:
            views = await asyncio.to_thread(hub.servers)
            seen = next((v.get("last_hook_at") for v in views if v.get("id") == server.id),
                        None)
    if proof.ok and seen and seen >= started:
        ui.ok(f"hook → hub: a test event from {server.id}'s hook reached the hub "
              f"(recorded {time.strftime('%H:%M:%S', time.localtime(seen))})")
        return True
    ui.bad(f"hook → hub: {proof_failure(proof, server)}", proof_fix(proof, server))
    return False


def proof_failure(proof: hook_install.Proof, server: LocalServer | SshServer) -> str:
    if proof.status == 0:
        return f"the hook could not reach the hub at {proof.url} ({proof.detail})"
    if proof.status == 401:
        return "the hub refused the hook's signature (the shared secrets differ)"
    if proof.status == 403:
        return f"the hub does not serve '{server.id}'"
    if proof.status == -1:
        return proof.detail
    if proof.status == -2:
        return f"the hook did not run: {proof.detail}"
    if proof.ok:
        return "the hook posted, but the hub has not recorded it"
    return f"the hub answered {proof.status}: {proof.detail}"


def proof_fix(proof: hook_install.Proof, server: LocalServer | SshServer) -> str:
    if proof.status == 0 and isinstance(server, SshServer) and server.hooks_via == "ssh":
        return (f"the hub forwards port {server.hooks_port} on {server.id}'s 127.0.0.1 over its "
                "SSH connection: check the hub's log, or use hooks_via = \"direct\"")
    if proof.status == 0:
        return "make the hub reachable from the server: [hub] listen and hook_url in ccr.toml"
    if proof.status == 401:
        return "give the hub and this command the same CCR_SHARED_SECRET, then add again"
    return f"run `ccr servers test {server.id}` for details"


# --- shared with server_checks ---------------------------------------------------------------


def configured(config: Path, server_id: str) -> tuple[Settings, LocalServer | SshServer]:
    current = config_file.read(config)
    if not current.exists:
        raise ConfigError("config_missing", path=str(config))
    settings = current.settings()
    server = settings.server(server_id)
    if server is None:
        raise InputError("server_not_configured", server=server_id, path=str(config))
    return settings, server


async def open_machine(server: LocalServer | SshServer, ui: Ui) -> Machine:
    if isinstance(server, LocalServer):
        return LocalMachine(server.id)
    with ui.step(f"Logging in to {server.user}@{server.host}:{server.port}…"):
        return await connect(server, within_s=CONNECT_TIMEOUT_S)


# --- remove ----------------------------------------------------------------------------------


async def remove(config: Path, server_id: str, ui: Ui, hub: HubLink, source: HookSource, *,
                 yes: bool = False) -> None:
    """Take ccr's hook out of the server, the entry out of ccr.toml, and tell the hub."""
    _, server = configured(config, server_id)
    machine: Machine | None = None
    try:
        machine = await open_machine(server, ui)
    except CcrError as exc:
        anyway = True if yes else ui.confirm(
            f"{exc.message}\nccr cannot take its hook out of {server_id}. Remove "
            f"{server_id} from {config} anyway")
        if not anyway:
            raise
        ui.bad(f"{server_id}: hook left in place ({exc.message})",
               "take ccr's entries out of ~/.claude/settings.json there by hand")
    if machine is not None:
        try:
            with ui.step(f"Taking ccr's hook out of {server_id}…"):
                layout = await hook_install.survey(machine, source,
                                                   local=isinstance(server, LocalServer))
                gone = await hook_install.uninstall(machine, layout)
        finally:
            await machine.close()
        backup = f" (backup: {_home(gone.backup, layout)})" if gone.backup else ""
        ui.ok(f"Claude Code settings: {gone.removed} ccr entr"
              f"{'y' if gone.removed == 1 else 'ies'} taken out of "
              f"{_home(layout.settings_path, layout)}, the rest kept{backup}")
        ui.ok(f"hook.env {'removed' if gone.env_removed else 'was not there'}"
              + (", hook removed" if gone.hook_removed else ""))
    config_file.write(config, config_file.without_server(config_file.read(config), server_id))
    ui.ok(f"ccr.toml: {server_id} removed from {config}, the rest kept")
    if not await asyncio.to_thread(hub.running):
        ui.note("The hub is not running; it will not serve it at its next start.")
        return
    answer = await asyncio.to_thread(hub.sync, server_id, str(config))
    problem = answer.get("error")
    if isinstance(problem, dict):
        raise Problem(str(problem.get("message")), problem.get("steps") or [])
    ui.ok(f"hub: {'stopped serving' if answer.get('action') == 'removed' else 'did not serve'} "
          f"{server_id}")
