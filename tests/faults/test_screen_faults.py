"""/screen while the server is down: each try gets a plain answer (cannot reach it), and once
its breaker opens the answer comes at once (temporarily unavailable), no photo sent, no
connection tried. The real hub, the private sshd (stopped), the Bot API stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT
from tests.e2e.test_screen import printed_pane, register
from tests.faults.helpers import dump, fault_world, log_lines
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

pytestmark = [pytest.mark.e2e, pytest.mark.ssh]


def test_screen_of_a_down_server_gets_plain_answers_then_the_breaker_refuses(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    world = fault_world(tmp_path, botapi, tmux, sshd, connect_timeout_s=2)
    world.hub.start()
    try:
        pane = printed_pane(world, "remote")
        register(world, "kr4", pane)
        sshd.stop()
        seen: set[int] = set()
        answers: list[str] = []
        for _ in range(8):
            world.botapi.push_text(CHAT, "/screen kr4:1")
            msg = world.botapi.wait_for_message(
                lambda m: m["message_id"] not in seen and m["text"].startswith("❌"),
                timeout=30)
            seen.add(msg["message_id"])
            answers.append(msg["text"])
            assert "1. " in msg["text"], "numbered recovery steps"
            if "temporarily unavailable" in msg["text"]:
                break
            assert "Cannot reach kr4" in msg["text"], dump(world)
        else:
            raise AssertionError(f"the breaker never opened: {answers}\n{dump(world)}")
        assert len(answers) >= 3, "the breaker opened on the failures of /screen"
        assert log_lines(world, "breaker of kr4: closed -> open")
        assert world.botapi.sent_photos() == []
    finally:
        world.hub.stop()
