"""The hub's SSH connection to kr4 dropped in the middle of a dispatch.

Default transport (a tmux control channel): the connection drops after the text was typed
and answered, before its Enter. The text is known to be in the pane and the Enter never left,
so the Enter goes out on a new connection: the command is submitted once, and the next one
travels on the new connection too.

Exec channels (`transport = "exec"`): the connection drops after the keys reached tmux but
before the exec call's exit status came back (a wrapper holds the answer). What the user
sees: the text once in the pane (not submitted), and a Telegram message saying it may not
have reached the session, with what to check before sending it again. ccr never retypes it:
the command is recorded UNCERTAIN. (Over a control channel an answer that never came is the
hung-server test.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT
from tests.faults.helpers import bot_texts, dump, fault_world, wait_command
from tests.fixtures.hub import prompts
from tests.fixtures.sshd import Sshd, start_sshd
from tests.fixtures.tmux import Tmux

pytestmark = [pytest.mark.e2e, pytest.mark.ssh]

# Sourced by bash before each remote command (BASH_ENV): tmux answers typing 5 s late, so the
# keys are in the pane while the call is still waiting for its exit status.
SLOW_ANSWER = """\
tmux() {
  command tmux "$@"; local rc=$?
  case " $* " in *" send-keys "*" -H "*) sleep 5 ;; esac
  return $rc
}
"""


@pytest.fixture
def slow_answer_sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = start_sshd(tmp_path / "sshd", slow_bashrc_seconds=0.01)
    (server.workdir / "slow_env.sh").write_text(SLOW_ANSWER)
    try:
        yield server
    finally:
        server.stop()


def test_connection_dropped_between_the_text_and_its_enter(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    # A fixed 3 s settle holds the dispatch between its text and its Enter.
    world = fault_world(tmp_path, botapi, tmux, sshd, settle_ms=3000,
                        submit="fixed")
    world.hub.start()
    try:
        pane, state = world.start_agent("kr4", "remote")
        world.notification_for("kr4:1")
        text = "deploy exactly once"
        world.botapi.push_text(CHAT, f"/cmd kr4:1 {text}")
        world.tmux.wait_for_text(pane, text, timeout=10)
        pids = sshd.connection_pids()
        assert pids, "the hub's SSH connection"
        assert prompts(state) == [], "dropped before the Enter"
        for pid in pids:
            sshd.drop_connection(pid)

        world.wait_prompts(state, 1)
        command = wait_command(world, text, timeout=10)
        assert command["state"] in ("executing", "completed"), dump(world)
        assert not set(sshd.connection_pids()) & set(pids), "a new connection"
        world.botapi.push_text(CHAT, "/cmd kr4:1 on the new connection")
        world.wait_prompts(state, 2)
        time.sleep(0.5)  # room for any retype that should not happen
        assert prompts(state) == [text, "on the new connection"], "each submitted once"
        assert world.tmux.capture(pane).count(f"> {text}") == 1, "typed exactly once"
        assert not any("may not have reached" in t for t in bot_texts(world)), dump(world)
    finally:
        world.hub.stop()


def test_exec_connection_dropped_after_the_keys_were_sent(
        tmp_path: Path, botapi: Any, tmux: Tmux, slow_answer_sshd: Sshd) -> None:
    sshd = slow_answer_sshd
    world = fault_world(tmp_path, botapi, tmux, sshd, transport="exec")
    world.hub.start()
    try:
        pane, state = world.start_agent("kr4", "remote")
        world.notification_for("kr4:1")
        text = "deploy exactly once"
        world.botapi.push_text(CHAT, f"/cmd kr4:1 {text}")
        world.tmux.wait_for_text(pane, text, timeout=10)
        pids = sshd.connection_pids()
        assert pids, "the hub's SSH connection"
        for pid in pids:
            sshd.drop_connection(pid)

        command = wait_command(world, text, timeout=10)
        assert command["state"] == "uncertain" and command["error_code"] == "delivery_uncertain"
        # The command's message is edited to say so (it said "Typing…" until then).
        msg = world.botapi.wait_for_message(
            lambda m: text in m["text"] and "may not have reached" in m["text"])
        assert "kr4:1" in msg["text"], dump(world)
        assert "1. Look at the session before sending again" in msg["text"]
        assert "2. If the text is not there, send it again." in msg["text"]

        time.sleep(1.0)  # room for any resend that should not happen
        screen = world.tmux.capture(pane)
        assert screen.count(text) == 1, f"typed exactly once:\n{screen}"
        assert prompts(state) == [], "never submitted by a second Enter or a retype"
        assert sum(text in t for t in bot_texts(world)) == 1, "told once"
    finally:
        world.hub.stop()
