"""The real Claude Code in the loop: the real hub process, the real hook, the Bot API stand-in,
tmux (locally or reached over the private sshd), and the Messages API stand-in the clients
talk to. One Messages API stand-in serves a test module: each client sends its own API key,
so a test reads only its own clients' requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ccr.core.config import ExecutorSettings
from tests.e2e.conftest import World, make_world
from tests.fixtures.claude import Claude, require_claude, start_claude
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux
from tests.messages_api import MessagesApiStandIn

DEFAULTS = ExecutorSettings()
"""The hub types with its shipped settings: what a user gets."""


@dataclass
class Real:
    """A hub and the real clients it drives; `server` is the id the clients' hooks report
    ("laptop": reached locally, "kr4": over SSH)."""

    world: World
    api: MessagesApiStandIn
    server: str
    clients: list[Claude] = field(default_factory=list)

    @property
    def botapi(self) -> Any:
        return self.world.botapi

    def claude(self, name: str, *, wait: bool = True, **env: str) -> Claude:
        """A real client in a new tmux session, its hook reporting to this hub."""
        client = start_claude(self.world.tmux, name, self.world.workdir, api_url=self.api.base_url,
                              hub_url=self.world.hub.url, server_id=self.server, wait=wait,
                              **env)
        self.clients.append(client)
        return client

    def handle(self, n: int = 1) -> str:
        return f"{self.server}:{n}"

    def prompts(self, client: Claude) -> list[str]:
        return self.api.prompts(client.api_key)

    def wait_prompts(self, client: Claude, count: int, timeout: float = 30.0) -> list[str]:
        try:
            return self.api.wait_prompts(count, client.api_key, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.explain(client)}") from None

    def explain(self, client: Claude) -> str:
        """What a failure message needs: the pane, the bot's last words, the logs."""
        sent = "\n---\n".join(m["text"] for m in self.botapi.sent_messages()[-6:])
        return (f"pane:\n{client.screen()}\nbot said:\n{sent}\nhook log:\n"
                + "\n".join(client.hook_events()[-10:])
                + f"\nhub log:\n{self.world.hub.logs()[-3000:]}")


@pytest.fixture(scope="module")
def api() -> Iterator[MessagesApiStandIn]:
    require_claude()
    with MessagesApiStandIn() as stand_in:
        yield stand_in


def _real(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd | None,
          api: MessagesApiStandIn) -> Iterator[Real]:
    require_claude()
    world = make_world(tmp_path, botapi, tmux, sshd, settle_ms=DEFAULTS.settle_ms,
                       enter_check_ms=DEFAULTS.enter_check_ms)
    world.hub.start()
    try:
        yield Real(world, api, "kr4" if sshd is not None else "laptop")
    finally:
        world.hub.stop()


@pytest.fixture
def real(tmp_path: Path, botapi: Any, tmux: Tmux, api: MessagesApiStandIn) -> Iterator[Real]:
    """The hub reaching the clients' tmux server locally."""
    yield from _real(tmp_path, botapi, tmux, None, api)


@pytest.fixture(params=["local", "ssh"])
def anywhere(request: pytest.FixtureRequest, tmp_path: Path, botapi: Any, tmux: Tmux,
             api: MessagesApiStandIn) -> Iterator[Real]:
    """The same, once locally and once over SSH (the private sshd)."""
    sshd = request.getfixturevalue("sshd") if request.param == "ssh" else None
    yield from _real(tmp_path, botapi, tmux, sshd, api)
