"""The hook forward under faults: its SSH connection dropped (it comes back on the replacement),
the server unreachable for a while (a hook fired meanwhile spools and arrives after), and its
port already taken on the server (a clear error naming hooks_port, retried until it is free).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import World, make_world
from tests.e2e.test_hook_forward import forward_up, listeners, metrics, stop_event
from tests.faults.helpers import FAST_RELIABILITY, dump, log_lines
from tests.fixtures.hub import free_port, hook_env, run_hook, toml_value, wait_until
from tests.fixtures.sshd import Sshd, _children_map, _descendants, _owns_socket
from tests.fixtures.tmux import Tmux
from tests.integration.test_metrics import value

pytestmark = [pytest.mark.e2e, pytest.mark.ssh]


def world_with_forward(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd,
                       hooks_port: int | None = None) -> tuple[World, int]:
    port = hooks_port or free_port()
    world = make_world(tmp_path, botapi, tmux, sshd,
                       kr4={"hooks_via": "ssh", "hooks_port": port})
    lines = ["[reliability]", *(f"{k} = {toml_value(v)}" for k, v in FAST_RELIABILITY.items())]
    config = world.hub.config
    config.write_text(config.read_text() + "\n".join(lines) + "\n")
    return world, port


def opened(world: World) -> float:
    return value(metrics(world), "ssh_hook_forward_opened_total", server="kr4")


def test_the_forward_comes_back_after_its_connection_drops(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    world, hooks_port = world_with_forward(tmp_path, botapi, tmux, sshd)
    world.hub.start()
    env = hook_env(f"http://127.0.0.1:{hooks_port}", "kr4", world.workdir)
    try:
        wait_until(lambda: forward_up(world) == 1, 15, message="the hook forward")
        before = sshd.connection_pids()
        assert before, "the hub's SSH connection(s)"
        dropped = time.monotonic()
        for pid in before:
            sshd.drop_connection(pid)

        def listening_on_a_new_connection() -> bool:
            inodes = listeners(hooks_port).get("0100007F", set())
            fresh = [p for p in sshd.connection_pids() if p not in before]
            return bool(inodes) and any(_owns_socket(p, inodes) for p in
                                        fresh + _descendants(fresh, _children_map()))

        wait_until(listening_on_a_new_connection, 15, interval=0.005,
                   message="the forward on a new connection")
        back_ms = (time.monotonic() - dropped) * 1000
        print(f"\nhook forward listening again {back_ms:.0f} ms after the drop")
        # sshd listens a moment before the hub hears the forward is open and counts it.
        wait_until(lambda: forward_up(world) == 1 and opened(world) >= 2, 10,
                   message="the hub to count the forward as up again")
        assert log_lines(world, "hook forward for kr4 down"), dump(world)
        assert log_lines(world, "hook forward for kr4 up again after"), dump(world)

        proc = run_hook(stop_event("/srv/kr4/after-drop", "after the drop", "s1"), env)
        assert proc.returncode == 0
        botapi.wait_for_message(lambda m: "after the drop" in m["text"])
        # One forward per server, on one pinned connection: one listener, sshd's.
        assert len(listeners(hooks_port).get("0100007F", set())) == 1
    finally:
        world.hub.stop()


def test_a_hook_fired_while_the_forward_is_down_arrives_after(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    world, hooks_port = world_with_forward(tmp_path, botapi, tmux, sshd)
    world.hub.start()
    env = hook_env(f"http://127.0.0.1:{hooks_port}", "kr4", world.workdir)
    spool = world.workdir / "spool-kr4"
    try:
        wait_until(lambda: forward_up(world) == 1, 15, message="the hook forward")
        sshd.kill()  # the server's sshd is gone: the hub cannot reconnect for now
        for pid in sshd.connection_pids():
            sshd.drop_connection(pid)
        wait_until(lambda: forward_up(world) == 0, 10, message="the forward to go down")
        assert not listeners(hooks_port), "nothing listens on the server's hooks_port"

        proc = run_hook(stop_event("/srv/kr4/offline", "while the forward was down", "s1"),
                        env)
        assert proc.returncode == 0 and proc.stdout == b""
        assert len(list(spool.glob("*.json"))) == 1, "spooled on the server"

        sshd.restart()
        wait_until(lambda: forward_up(world) == 1, 30, message="the forward to come back")
        run_hook(stop_event("/srv/kr4/online", "once it was back", "s2"), env)
        first = botapi.wait_for_message(lambda m: "while the forward was down" in m["text"])
        second = botapi.wait_for_message(lambda m: "once it was back" in m["text"])
        assert first["message_id"] < second["message_id"], "the backlog first, oldest first"
        # the hook's detached sender removes each file once the hub took it
        wait_until(lambda: not list(spool.glob("*.json")), 10, message="an empty spool again")
    finally:
        world.hub.stop()


def test_a_taken_hooks_port_is_a_clear_error_and_retried(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]  # a stale listener on the server's hooks_port
    world, _ = world_with_forward(tmp_path, botapi, tmux, sshd, hooks_port=port)
    world.hub.start()
    try:
        wait_until(lambda: log_lines(world, "hook forward for kr4 not open"), 15,
                   message="the hub to say the forward is not open")
        line = log_lines(world, "hook forward for kr4 not open")[0]
        assert f"port {port} on kr4's 127.0.0.1 is already taken" in line, line
        assert f"hooks_port = {port}" in line and "retrying" in line, line
        assert "set [[servers]] hooks_port to a free port" in line, "brackets printed as is"
        text = metrics(world)
        assert value(text, "ssh_hook_forward_up", server="kr4") == 0
        wait_until(lambda: value(metrics(world), "ssh_hook_forward_failures_total",
                                 server="kr4") >= 2, 10, message="a retry")

        squatter.close()  # the stale listener goes away: the next retry takes the port
        wait_until(lambda: forward_up(world) == 1, 15, message="the forward once free")
        env = hook_env(f"http://127.0.0.1:{port}", "kr4", world.workdir)
        assert run_hook(stop_event("/srv/kr4/freed", "port freed", "s1"), env).returncode == 0
        botapi.wait_for_message(lambda m: "port freed" in m["text"])
    finally:
        squatter.close()
        world.hub.stop()
