"""Session recovery on real parts: a killed tmux session is noticed and told once; recreated,
its mapping comes back and is told once; an unreachable SSH server likewise."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import CHAT, World, make_world
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e
INTERVAL = 0.5


def fast(tmp_path: Path, botapi: object, tmux: Tmux, sshd: Sshd | None) -> World:
    w = make_world(tmp_path, botapi, tmux, sshd,
                   reliability={"health_interval_s": INTERVAL, "breaker_open_s": 0.5,
                                "ssh_attempts": 1})
    w.hub.start()
    return w


@pytest.fixture
def quick_world(tmp_path: Path, botapi: object, tmux: Tmux) -> Iterator[World]:
    w = fast(tmp_path, botapi, tmux, None)
    yield w
    w.hub.stop()


@pytest.fixture
def quick_ssh_world(tmp_path: Path, botapi: object, tmux: Tmux, sshd: Sshd) -> Iterator[World]:
    w = fast(tmp_path, botapi, tmux, sshd)
    yield w
    w.hub.stop()


def health_messages(world: World, handle: str) -> list[str]:
    return [m["text"] for m in world.botapi.sent_messages(CHAT)
            if m["text"].startswith(("🔴", "🟢")) and handle in m["text"]]


def test_killed_tmux_session_is_told_once_and_restored_when_recreated(
        quick_world: World) -> None:
    w = quick_world
    w.start_agent("laptop", "keeps-tmux-alive")
    w.notification_for("laptop:1")
    w.start_agent("laptop", "work")
    w.notification_for("laptop:2")
    w.tmux.crash_session("work")
    lost = w.botapi.wait_for_message(lambda m: "🔴" in m["text"] and "laptop:2" in m["text"],
                                     timeout=10)
    assert "is gone" in lost["text"] and "1." in lost["text"]
    time.sleep(INTERVAL * 5)  # several more checks: still told only once
    assert len(health_messages(w, "laptop:2")) == 1
    assert health_messages(w, "laptop:1") == []

    # The person starts Claude again in the same tmux session: same handle, new pane.
    # Told back only once its hook says Claude is there: what is sent then is typed to Claude.
    _, state = w.start_agent("laptop", "work")
    w.botapi.wait_for_message(
        lambda m: "laptop:2" in m["text"] and ("🟢" in m["text"] or "back again" in m["text"]),
        timeout=10)
    w.botapi.push_text(CHAT, "/cmd laptop:2 are you back?")
    assert w.wait_prompts(state, 1) == ["are you back?"]
    time.sleep(INTERVAL * 4)
    assert len([t for t in health_messages(w, "laptop:2") if t.startswith("🟢")]) <= 1
    sessions = w.hub.api("GET", "/api/sessions").json()["sessions"]
    assert sorted(s["handle"] for s in sessions) == ["laptop:1", "laptop:2"]


def test_a_shell_in_the_recreated_tmux_session_is_not_taken_for_claude(
        quick_world: World, tmp_path: Path) -> None:
    w = quick_world
    w.start_agent("laptop", "keeps-tmux-alive")
    w.notification_for("laptop:1")
    w.start_agent("laptop", "work")
    w.notification_for("laptop:2")
    w.tmux.crash_session("work")
    w.botapi.wait_for_message(lambda m: "🔴" in m["text"] and "laptop:2" in m["text"],
                              timeout=10)
    # The person opens the tmux session again but has not started Claude in it yet.
    typed = tmp_path / "typed-into-the-shell"
    shell = w.tmux.new_session("work", ["sh", "-c", f"cat > {typed}"])
    time.sleep(INTERVAL * 5)
    w.botapi.push_text(CHAT, "/cmd laptop:2 rm -rf build")
    w.botapi.wait_for_message(lambda m: "laptop:2" in m["text"]
                              and "nothing was typed" in m["text"], timeout=10)
    time.sleep(INTERVAL * 2)
    assert not [t for t in health_messages(w, "laptop:2") if t.startswith("🟢")]
    assert "rm -rf" not in w.tmux.capture(shell)
    assert not typed.exists() or typed.read_text() == ""


def test_unreachable_ssh_server_is_told_once_each_way(quick_ssh_world: World) -> None:
    w = quick_ssh_world
    assert w.sshd is not None
    w.start_agent("kr4", "remote")
    w.notification_for("kr4:1")
    w.sshd.kill()
    for pid in w.sshd.connection_pids():
        w.sshd.drop_connection(pid)
    down = w.botapi.wait_for_message(lambda m: "🔴" in m["text"] and "kr4:1" in m["text"],
                                     timeout=15)
    assert "unreachable" in down["text"]
    time.sleep(INTERVAL * 4)
    assert len(health_messages(w, "kr4:1")) == 1
    w.sshd.restart()
    w.botapi.wait_for_message(lambda m: "🟢" in m["text"] and "kr4:1" in m["text"], timeout=30)
    assert len(health_messages(w, "kr4:1")) == 2
