"""Commands from Telegram to different sessions do not wait for each other; commands to one
session keep the order they were sent in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, World, make_world
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e


@pytest.fixture
def slow_ssh_world(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> Iterator[World]:
    w = make_world(tmp_path, botapi, tmux, sshd, command_timeout_s=6,
                   reliability={"ssh_attempts": 1})
    w.hub.start()
    yield w
    w.sshd.thaw() if w.sshd else None
    w.hub.stop()


def test_a_hung_server_does_not_hold_up_another_sessions_command(
        slow_ssh_world: World) -> None:
    w = slow_ssh_world
    assert w.sshd is not None
    _, remote = w.start_agent("kr4", "remote")
    w.notification_for("kr4:1")
    _, local = w.start_agent("laptop", "local")
    w.notification_for("laptop:1")
    w.sshd.freeze()
    w.botapi.push_text(CHAT, "/cmd kr4:1 into the hung server")
    w.botapi.push_text(CHAT, "/cmd laptop:1 right away please")
    assert w.wait_prompts(local, 1) == ["right away please"]
    kr4_results = [m for m in w.botapi.sent_messages(CHAT)
                   if "kr4:1" in m["text"] and "into the hung server" in m["text"]]
    assert kr4_results and not any(m["text"].startswith(("✅", "❌", "⚠️", "⌛", "🚫"))
                                   for m in kr4_results), \
        "the laptop command was typed before the hung server's command ended"
    w.sshd.thaw()
    assert w.prompts(remote) in ([], ["into the hung server"])


def test_commands_to_one_session_keep_their_order(tmp_path: Path, botapi: Any,
                                                  tmux: Tmux) -> None:
    w = make_world(tmp_path, botapi, tmux, None)
    w.hub.start()
    try:
        _, state = w.start_agent("laptop", "ordered")
        w.notification_for("laptop:1")
        texts = [f"step {n}" for n in range(6)]
        for text in texts:
            w.botapi.push_text(CHAT, f"/cmd laptop:1 {text}")
        assert w.wait_prompts(state, len(texts)) == texts
    finally:
        w.hub.stop()
