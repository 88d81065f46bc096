"""`a` on a session row: the command that attaches to its pane (pure), that command really
attaching a tmux client and coming back on detach, and the console running it for the
highlighted session (through CCR_ATTACH_WRAPPER, a recorder: a Pilot console has no terminal
to hand over, so that one test does not run the real `tmux attach`)."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import pytest

from ccr.console.app import ConsoleApp
from ccr.console.attach import WRAPPER_ENV, attach_argv
from ccr.console.widgets.main import SessionsTable
from ccr.core.config import LocalServer, SshServer
from ccr.core.errors import CcrError
from ccr.core.models import Session
from tests.console.conftest import hook_event, make_hub, wait_for
from tests.fixtures.tmux import Tmux


def session(pane: str | None = "%7", socket: str | None = None) -> Session:
    return Session(id=1, server_id="box", number=3, token="t", pane_id=pane,
                   tmux_socket=socket, tmux_session="work", claude_session_id=None,
                   project="/srv/app", last_event=None, last_prompt=None, last_reply=None,
                   created_at=0.0, updated_at=0.0, expires_at=1e12)


def test_local_attach_selects_the_pane_then_attaches_on_its_socket() -> None:
    server = LocalServer(id="box", kind="local", tmux_socket="ccr")
    assert attach_argv(server, session()) == [
        "tmux", "-L", "ccr", "select-window", "-t", "%7", ";", "select-pane", "-t", "%7", ";",
        "attach-session", "-t", "%7"]
    # The socket the hook reported wins over the configured name.
    argv = attach_argv(server, session(socket="/tmp/tmux-1000/other"))
    assert argv[:3] == ["tmux", "-S", "/tmp/tmux-1000/other"]


def test_ssh_attach_uses_the_servers_login_and_verifies_its_host_key(tmp_path: Path) -> None:
    server = SshServer(id="box", kind="ssh", host="gpu.example", port=2222, user="ana",
                       identity=tmp_path / "id_ed25519", known_hosts=tmp_path / "known_hosts")
    argv = attach_argv(server, session())
    assert argv[:2] == ["ssh", "-t"]
    assert argv[2:4] == ["-p", "2222"] and argv[4:6] == ["-l", "ana"]
    assert ["-i", str(tmp_path / "id_ed25519")] == argv[6:8]
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in argv
    assert "StrictHostKeyChecking=yes" in argv
    assert argv[-2] == "gpu.example"
    assert shlex.split(argv[-1]) == ["tmux", "select-window", "-t", "%7", ";", "select-pane",
                                     "-t", "%7", ";", "attach-session", "-t", "%7"]


def test_a_session_without_a_pane_cannot_be_attached() -> None:
    with pytest.raises(CcrError) as err:
        attach_argv(LocalServer(id="box", kind="local"), session(pane=None))
    assert err.value.code == "session_not_in_tmux"


def test_the_attach_command_attaches_a_real_client_and_returns_on_detach(tmux: Tmux) -> None:
    """The built command, run in a terminal (a pane of another tmux server), shows the
    session's pane; when the client is detached it ends with status 0."""
    tmux.new_session("work", "sleep 600")
    target = tmux.run("new-window", "-P", "-F", "#{pane_id}", "-t", "work",
                      "echo the-chosen-pane; exec sleep 600").strip()
    tmux.run("select-window", "-t", "work:0")  # another window is current: attach picks ours
    argv = attach_argv(LocalServer(id="box", kind="local", tmux_socket=tmux.socket_name),
                       session(pane=target))
    outer = Tmux()
    try:
        term = outer.new_session("term", f"{shlex.join(argv)}; echo ATTACH-ENDED $?; "
                                         "exec sleep 600", width=100, height=20)
        outer.wait_for_text(term, "the-chosen-pane")
        assert tmux.run("list-clients", "-F", "#{client_session}").split() == ["work"]
        tmux.run("detach-client", "-s", "work")
        outer.wait_for_text(term, "ATTACH-ENDED 0")
    finally:
        outer.kill_server()


RECORDER = """import json, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(sys.argv[2:]) + "\\n")
"""


def recorder(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that appends its argv (past itself) to a file, as JSON lines."""
    log = tmp_path / "attach.log"
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    wrapper = tmp_path / "record"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {script} {log} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper, log


def attached(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize(("size", "mode"), [((200, 60), "overview"), ((120, 36), "main")])
async def test_a_on_a_session_row_attaches_to_its_pane(
        tmp_path: Path, tmux: Tmux, frozen_env: None, monkeypatch: pytest.MonkeyPatch,
        size: tuple[int, int], mode: str) -> None:
    wrapper, log = recorder(tmp_path)
    monkeypatch.setenv(WRAPPER_ENV, str(wrapper))
    first = tmux.new_session("agent", "sleep 600")
    second = tmux.run("new-window", "-P", "-F", "#{pane_id}", "-t", "agent",
                      "exec sleep 600").strip()
    app = ConsoleApp(make_hub(tmp_path, tmux, clock=time.time), start_http=False)
    async with app.run_test(size=size) as pilot:
        assert app.current_mode == mode
        await wait_for(pilot, lambda: app.started)
        await pilot.press("a")  # nothing selected yet: says so, runs nothing
        await wait_for(pilot, lambda: any("Select a session" in n.message
                                          for n in app._notifications))
        for pane in (first, second):
            await app.hub.sessions.ingest(hook_event(pane=pane))
        table = app.views[mode].query_one(SessionsTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("a")
        await wait_for(pilot, lambda: len(attached(log)) == 1)
        assert attached(log)[0] == ["tmux", "-L", tmux.socket_name, "select-window", "-t",
                                    second, ";", "select-pane", "-t", second, ";",
                                    "attach-session", "-t", second]
        await wait_for(pilot, lambda: any("Back from laptop:2" in n.message
                                          for n in app._notifications))
