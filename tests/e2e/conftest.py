"""An end-to-end world: the real hub process, the Bot API stand-in, tmux, sshd, the agent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hub import (
    HTTP,
    HubProcess,
    agent_argv,
    base_env,
    free_port,
    hook_env,
    prompts,
    signed_headers,
    wait_until,
    write_config,
)
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

CHAT = 4242
STRANGER = 6666


@dataclass
class World:
    hub: HubProcess
    botapi: Any
    tmux: Tmux
    workdir: Path
    sshd: Sshd | None
    panes: dict[Path, str] = field(default_factory=dict)

    def start_agent(self, server_id: str, name: str, *extra: str) -> tuple[str, Path]:
        """A stand-in Claude in a new tmux session whose hook reports as `server_id`."""
        state = self.workdir / f"agent-{name}"
        env = hook_env(self.hub.url, server_id, self.workdir)
        pane = self.tmux.new_session(name, agent_argv(state, *extra), env=env,
                                     cwd=self.workdir)
        self.panes[state] = pane
        return pane, state

    def post_hook(self, pane: str, name: str, *, server: str = "laptop",
                  session_id: str = "claude-e2e", **fields: Any) -> dict[str, Any]:
        """One hook event from `pane`, signed like `ccr hook` signs it; the hub's answer."""
        body = json.dumps({
            "event_id": str(uuid.uuid4()), "server_id": server, "hook_event_name": name,
            "session_id": session_id, "cwd": str(self.workdir),
            "tmux": {"pane_id": pane, "socket": self.tmux.socket_path}, **fields,
        }).encode()
        resp = HTTP.post(f"{self.hub.url}/notify", content=body,
                          headers=signed_headers(body), timeout=10)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def notification_for(self, handle: str, timeout: float = 15.0) -> dict[str, Any]:
        return dict(self.botapi.wait_for_message(
            lambda m: handle in m.get("text", "") and "Reply to this message" in m["text"],
            timeout=timeout))

    def prompts(self, state: Path) -> list[str]:
        return prompts(state)

    def wait_prompts(self, state: Path, count: int, timeout: float = 15.0) -> list[str]:
        try:
            wait_until(lambda: len(prompts(state)) >= count, timeout,
                       message=f"{count} prompt(s) in the agent")
        except AssertionError as exc:
            pane = self.panes.get(state)
            screen = self.tmux.capture(pane) if pane else "?"
            sent = "\n---\n".join(m["text"] for m in self.botapi.sent_messages()[-6:])
            raise AssertionError(f"{exc}\npane:\n{screen}\nbot said:\n{sent}\n"
                                 f"hub log:\n{self.hub.logs()[-3000:]}") from None
        return prompts(state)


def make_world(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd | None,
               reliability: dict[str, Any] | None = None,
               telegram: dict[str, Any] | None = None,
               sections: dict[str, dict[str, Any]] | None = None,
               kr4: dict[str, Any] | None = None, **executor: Any) -> World:
    """`kr4` overrides keys of the SSH server's entry. Its hooks post to the hub's own URL
    (`start_agent`), so it is `hooks_via = "direct"` unless a test says otherwise: no forward
    is asked for, and parallel hubs never compete for one hooks_port."""
    servers: list[dict[str, Any]] = [{"id": "laptop", "kind": "local"}]
    if sshd is not None:
        servers.append({"id": "kr4", "kind": "ssh", "host": sshd.host, "port": sshd.port,
                        "user": sshd.user, "identity": sshd.identity,
                        "known_hosts": sshd.known_hosts, "hooks_via": "direct",
                        **(kr4 or {})})
    port = free_port()
    config = write_config(
        tmp_path / "ccr.toml", port=port, data_dir=tmp_path / "data", servers=servers,
        telegram={"base_url": botapi.base_url, "allowed_chats": [CHAT], "admins": [CHAT],
                  "poll_timeout": 1, **(telegram or {})},
        executor={"settle_ms": 150, "enter_check_ms": 100, **executor},
        reliability=reliability, sections=sections,
    )
    hub = HubProcess(config=config, port=port, workdir=tmp_path,
                     env=base_env(CCR_TELEGRAM_TOKEN=botapi.token))
    return World(hub=hub, botapi=botapi, tmux=tmux, workdir=tmp_path, sshd=sshd)


@pytest.fixture
def world(tmp_path: Path, botapi: Any, tmux: Tmux) -> Iterator[World]:
    w = make_world(tmp_path, botapi, tmux, None)
    w.hub.start()
    yield w
    w.hub.stop()


@pytest.fixture
def ssh_world(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> Iterator[World]:
    w = make_world(tmp_path, botapi, tmux, sshd)
    w.hub.start()
    yield w
    w.hub.stop()
