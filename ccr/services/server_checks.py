"""`ccr servers test` and `ccr servers list`: every piece of a server checked with its fix,
and the fleet as the config file and the running hub see it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccr.core.config import LocalServer, SshServer
from ccr.core.errors import CcrError, ConfigError
from ccr.remote.machine import Machine
from ccr.services import config_file, hook_install
from ccr.services.hook_install import Finding, HookSource, Layout
from ccr.services.servers import (
    HubLink,
    Ui,
    configured,
    open_machine,
    proof_failure,
    proof_fix,
)


async def test(config: Path, server_id: str, ui: Ui, hub: HubLink,
               source: HookSource) -> bool:
    """Each piece checked and shown with ✓/✗ and its fix; True when all are fine."""
    settings, server = configured(config, server_id)
    hub_url = settings.hook_url_for(server)
    findings: list[Finding] = []
    machine: Machine | None = None
    try:
        try:
            machine = await open_machine(server, ui)
            findings.append(Finding("connect", True, getattr(machine, "where", "")))
        except CcrError as exc:
            findings.append(Finding("connect", False, exc.message, " ".join(exc.steps)))
            return _show(findings, ui)
        with ui.step(f"Checking {server_id}…"):
            layout = await hook_install.survey(machine, source,
                                               local=isinstance(server, LocalServer))
            tmux = await machine.run("tmux -V") if layout.tmux else None
        findings.append(Finding("tmux", True, tmux.out.strip()) if tmux and tmux.code == 0
                        else Finding("tmux", False, "not installed",
                                     "install tmux on the server"))
        findings.append(Finding("python3", True, layout.python) if layout.python
                        else Finding("python3", False, "not found",
                                     "install python3 on the server (the hook needs it)"))
        with ui.step("Checking the hook's files…"):
            findings += await hook_install.inspect(
                machine, layout, source, server_id=server_id, hub_url=hub_url,
                secret=settings.secret(settings.hub.shared_secret_env))
        findings.append(await _hub_finding(server, machine, layout, ui, hub))
    finally:
        if machine is not None:
            await machine.close()
    return _show(findings, ui)



async def _hub_finding(server: LocalServer | SshServer, machine: Machine, layout: Layout,
                       ui: Ui, hub: HubLink) -> Finding:
    if not await asyncio.to_thread(hub.running):
        return Finding("hook reaches the hub", False, "the hub is not running",
                       "start it: `ccr serve`")
    views = await asyncio.to_thread(hub.servers)
    if not any(v.get("id") == server.id for v in views):
        return Finding("hook reaches the hub", False, f"the hub does not serve {server.id}",
                       f"run `ccr servers add {server.id} ...` again (it tells the hub)")
    started = time.time() - 1
    with ui.step("Sending a test event through the hook…"):
        proof = await hook_install.prove(machine, layout)
        views = await asyncio.to_thread(hub.servers) if proof.ok else views
    seen = next((v.get("last_hook_at") for v in views if v.get("id") == server.id), None)
    if proof.ok and seen and seen >= started:
        return Finding("hook reaches the hub", True, f"test event recorded via {proof.url}")
    return Finding("hook reaches the hub", False, proof_failure(proof, server),
                   proof_fix(proof, server))


def _show(findings: list[Finding], ui: Ui) -> bool:
    for f in findings:
        if f.ok:
            ui.ok(f"{f.name}: {f.detail}")
        else:
            ui.bad(f"{f.name}: {f.detail}", f.fix)
    return all(f.ok for f in findings)


@dataclass(frozen=True)
class Row:
    id: str
    kind: str
    target: str
    hooks_via: str
    state: str
    last_hook: float | None
    in_config: bool = True


def rows(config: Path, hub: HubLink) -> tuple[list[Row], bool]:
    """Every server of the file (and any the hub serves that it lacks); hub running?"""
    current = config_file.read(config)
    if not current.exists:
        raise ConfigError("config_missing", path=str(config))
    settings = current.settings()
    running = hub.running()
    views = {v["id"]: v for v in hub.servers()} if running else {}
    out = []
    for s in settings.servers:
        v = views.pop(s.id, None)
        out.append(Row(s.id, s.kind, config_file.target_of(s),
                       s.hooks_via if isinstance(s, SshServer) else "direct",
                       _state(v, running), v.get("last_hook_at") if v else None))
    for v in views.values():
        out.append(Row(v["id"], v.get("kind", "?"), v.get("where", "?"),
                       v.get("hooks_via", "?"), _state(v, running), v.get("last_hook_at"),
                       in_config=False))
    return out, running


def _state(view: dict[str, Any] | None, running: bool) -> str:
    if not running:
        return "hub not running"
    if view is None:
        return "not served (restart the hub or add again)"
    state = {"up": "reachable", "down": "unreachable"}.get(view.get("state", ""), "not checked")
    breaker = view.get("breaker") or "closed"
    return state if breaker == "closed" else f"{state}, breaker {breaker.replace('_', '-')}"
