"""sshd frozen with SIGSTOP (a hung server, not a refused one).

What the user sees: the command to kr4 fails after the short timeouts with a plain message,
nothing typed; a command to the local server meanwhile arrives as fast as ever; after SIGCONT
kr4 answers again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT
from tests.faults.helpers import bot_texts, dump, fault_world, wait_command
from tests.fixtures.hub import prompts
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

pytestmark = [pytest.mark.e2e, pytest.mark.ssh]


def test_frozen_sshd_times_out_without_slowing_the_local_server(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    world = fault_world(tmp_path, botapi, tmux, sshd, command_timeout_s=1,
                        connect_timeout_s=1)
    world.hub.start()
    try:
        _, remote = world.start_agent("kr4", "remote")
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
            time.sleep(0.2)  # the kr4 command is now hanging on the frozen server
            world.botapi.push_text(CHAT, "/cmd laptop:1 local meanwhile")
            local_cmd = wait_command(world, "local meanwhile", timeout=5)
            local_took = local_cmd["typed_at"] - local_cmd["created_at"]
            hung = wait_command(world, "into the void", timeout=15)
            assert local_cmd["typed_at"] < hung["finished_at"], \
                "the local command did not wait for the hung server"
            print(f"local command: {local_took * 1000:.0f} ms during the freeze, "
                  f"{normal * 1000:.0f} ms before")
            assert local_cmd["state"] == "executing" and local_took < normal + 0.5
            assert hung["state"] in ("failed", "uncertain"), hung
            took = hung["finished_at"] - hung["created_at"]
            assert took < 8, f"the timeouts fired ({took:.1f} s)"
            msg = world.botapi.wait_for_message(lambda m: "into the void" in m["text"])
            assert "kr4" in msg["text"] and "1." in msg["text"], dump(world)
        finally:
            sshd.thaw()

        world.botapi.push_text(CHAT, "/cmd kr4:1 after the thaw")
        world.wait_prompts(remote, 2, timeout=20)
        time.sleep(0.5)
        assert prompts(remote).count("after the thaw") == 1
        assert "into the void" not in prompts(remote)
        assert prompts(local) == ["warm up", "local meanwhile"]
        assert sum("after the thaw" in t for t in bot_texts(world)) >= 1
    finally:
        world.hub.stop()
