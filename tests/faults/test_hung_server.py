"""sshd frozen with SIGSTOP (a hung server, not a refused one).

What the user sees: the command to kr4 ends after the short timeouts, reported as uncertain
in plain words with steps, while a command to the local server meanwhile arrives as fast as
ever. After SIGCONT kr4 answers again, and nothing is ever typed twice.

With the default transport (a tmux control channel) the command line was already in the
frozen server's channel, so tmux runs it when the server wakes: the text lands once in the
input box, without its Enter. ccr then refuses to glue the next command to it and says so;
when the person presses Enter there, Claude's hook reports exactly that text and the
uncertain command is settled. Over per-call exec channels the command sits behind a channel
open that never completed, so it never lands and the next command goes straight through.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, World
from tests.faults.helpers import bot_texts, commands, dump, fault_world, wait_command
from tests.fixtures.hub import prompts, wait_until
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

pytestmark = [pytest.mark.e2e, pytest.mark.ssh]


def freeze_during_a_command(world: World, sshd: Sshd, *, state: str, code: str,
                            told: str) -> tuple[str, Path, Path]:
    """kr4's sshd frozen while "into the void" is dispatched; (kr4 pane, its agent, local's).

    The hung command ends in `state` with `code`, and Telegram says `told`.
    """
    remote_pane, remote = world.start_agent("kr4", "remote")
    world.notification_for("kr4:1")
    _, local = world.start_agent("laptop", "local")
    world.notification_for("laptop:1")
    world.botapi.push_text(CHAT, "/cmd kr4:1 before the freeze")
    world.wait_prompts(remote, 1)
    world.botapi.push_text(CHAT, "/cmd laptop:1 warm up")
    world.wait_prompts(local, 1)
    baseline = wait_command(world, "warm up")
    normal = baseline["typed_at"] - baseline["created_at"]

    sshd.freeze()
    try:
        world.botapi.push_text(CHAT, "/cmd kr4:1 into the void")
        wait_until(lambda: any(c["text"] == "into the void" and c["state"] == "dispatching"
                               for c in commands(world)), 10,
                   message="the kr4 command to hang on the frozen server")
        world.botapi.push_text(CHAT, "/cmd laptop:1 local meanwhile")
        local_cmd = wait_command(world, "local meanwhile", timeout=10)
        local_took = local_cmd["typed_at"] - local_cmd["created_at"]
        hung = wait_command(world, "into the void", timeout=15)
        assert local_cmd["typed_at"] < hung["finished_at"], \
            "the local command did not wait for the hung server"
        print(f"local command: {local_took * 1000:.0f} ms during the freeze, "
              f"{normal * 1000:.0f} ms before")
        assert local_cmd["state"] in ("executing", "completed") and local_took < normal + 0.5
        assert hung["state"] == state and hung["error_code"] == code, hung
        took = hung["finished_at"] - hung["created_at"]
        assert took < 8, f"the timeouts fired ({took:.1f} s)"
        # the command's message is edited to its end state just after the row changes
        msg = world.botapi.wait_for_message(
            lambda m: "into the void" in m["text"] and told in m["text"])
        assert "kr4" in msg["text"], dump(world)
        assert "1. " in msg["text"] and "Traceback" not in msg["text"], dump(world)
    finally:
        sshd.thaw()
    return remote_pane, remote, local


def state_of(world: World, text: str) -> str:
    return next(c["state"] for c in commands(world) if c["text"] == text)


def test_frozen_sshd_the_text_lands_once_and_claude_settles_it(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    world = fault_world(tmp_path, botapi, tmux, sshd, command_timeout_s=1,
                        connect_timeout_s=1)
    world.hub.start()
    try:
        pane, remote, local = freeze_during_a_command(
            world, sshd, state="uncertain", code="delivery_uncertain",
            told="1. Look at the session before sending again")
        world.tmux.wait_for_text(pane, "into the void", timeout=10)
        assert prompts(remote) == ["before the freeze"], "landed without its Enter"

        world.botapi.push_text(CHAT, "/cmd kr4:1 after the thaw")
        refused = wait_command(world, "after the thaw")
        assert refused["state"] == "failed" and refused["error_code"] == "input_waiting"
        msg = world.botapi.wait_for_message(
            lambda m: "after the thaw" in m["text"] and "still holds" in m["text"])
        assert '"into the void"' in msg["text"] and "1. Look at kr4:1" in msg["text"], \
            dump(world)
        screen = world.tmux.capture(pane)
        assert screen.count("into the void") == 1 and "after the thaw" not in screen, screen

        # The person looks and presses Enter: Claude's hook reports exactly that text.
        world.tmux.run("send-keys", "-t", pane, "Enter")
        world.wait_prompts(remote, 2)
        wait_until(lambda: state_of(world, "into the void") in ("executing", "completed"), 10,
                   message="Claude's confirmation to settle the uncertain command")

        world.botapi.push_text(CHAT, "/cmd kr4:1 after the thaw, again")
        world.wait_prompts(remote, 3, timeout=20)
        time.sleep(0.5)  # room for any retype that should not happen
        assert prompts(remote) == ["before the freeze", "into the void",
                                   "after the thaw, again"], "each typed once"
        assert prompts(local) == ["warm up", "local meanwhile"]
    finally:
        world.hub.stop()


def test_frozen_sshd_over_exec_channels_the_text_never_lands(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    world = fault_world(tmp_path, botapi, tmux, sshd, command_timeout_s=1,
                        connect_timeout_s=1, transport="exec")
    world.hub.start()
    try:
        # The exec request waits for a channel that never opened: provably not sent.
        _, remote, local = freeze_during_a_command(
            world, sshd, state="failed", code="ssh_unreachable", told="Cannot reach kr4")
        world.botapi.push_text(CHAT, "/cmd kr4:1 after the thaw")
        world.wait_prompts(remote, 2, timeout=20)
        time.sleep(0.5)
        assert prompts(remote) == ["before the freeze", "after the thaw"]
        assert prompts(local) == ["warm up", "local meanwhile"]
        assert sum("after the thaw" in t for t in bot_texts(world)) >= 1
    finally:
        world.hub.stop()
