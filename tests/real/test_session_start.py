"""/new and /stop with the real client as the server's `claude_command`: the session is named
from the real SessionStart, answers a command, and ends cleanly on /stop."""

from __future__ import annotations

import os
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_session_control import buttons, make_fleet, panes
from tests.fixtures.claude import READY, client_env, require_claude, write_home
from tests.fixtures.hub import wait_until
from tests.fixtures.tmux import Tmux
from tests.messages_api import MessagesApiStandIn, text

pytestmark = [pytest.mark.e2e, pytest.mark.real]


def test_new_starts_the_real_claude_and_stop_ends_it(
        tmp_path: Path, botapi: Any, tmux: Tmux, api: MessagesApiStandIn) -> None:
    binary = require_claude()
    project = (tmp_path / "proj-new").resolve()
    project.mkdir()
    home = tmp_path / "home-new"
    key = f"sk-ant-api03-ccr-test-new-{uuid.uuid4().hex}"

    def claude_command(hub_url: str) -> str:
        """The real client, offline against the Messages API stand-in, its hook at the hub."""
        write_home(home, project, key, hub_url=hub_url, server_id="laptop")
        mine = client_env(home, api.base_url, key)
        drop = [f"-u{k}" for k in os.environ
                if k.startswith(("CLAUDE", "ANTHROPIC", "CCR_")) and k not in mine]
        return shlex.join(["env", *drop, *(f"{k}={v}" for k, v in mine.items()),
                           str(binary)])

    fleet = make_fleet(tmp_path, botapi, tmux, claude_command=claude_command)
    fleet.hub.start()
    try:
        done = fleet.start("laptop", str(project))
        assert "laptop:1" in done["text"] and "proj-new on laptop" in done["text"]
        [pane] = panes(tmux)
        tmux.wait_for_text(pane, READY, timeout=60)
        assert fleet.live() == ["laptop:1"]

        api.on("hello from the phone", text("Hello back from the real client."))
        fleet.say("/cmd laptop:1 hello from the phone")
        fleet.message(lambda m: "Hello back from the real client." in m["text"])
        assert api.prompts(key)[-1] == "hello from the phone"

        fleet.say("/stop laptop:1")
        ask = fleet.message(lambda m: m["text"].startswith("Stop ") and "laptop:1" in m["text"])
        fleet.tap(ask, dict(buttons(ask))["⏹ Yes, stop it"])
        stopped = fleet.message(lambda m: m["message_id"] == ask["message_id"]
                                and "stopped" in m["text"])
        assert "laptop:1" in stopped["text"]
        wait_until(lambda: panes(tmux) == {}, 15, message="the window to close")
        assert fleet.live() == []
    finally:
        fleet.hub.stop()
