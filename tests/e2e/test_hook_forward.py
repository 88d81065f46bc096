"""Hooks over the hub's own SSH link (hooks_via = "ssh"): the real hub process asks the private
sshd for a remote port forward on the server's loopback, and the real `ccr hook`, pointed at
that port and not at the hub's, reaches the hub and Telegram (the Bot API stand-in).

The sshd runs on this machine, so "the server's loopback" is this loopback: each test picks its
own free hooks_port, distinct from the hub's listen port.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import World, make_world
from tests.fixtures.hub import HTTP, free_port, hook_env, run_hook, toml_value, wait_until
from tests.fixtures.sshd import Sshd, _children_map, _descendants, _owns_socket
from tests.fixtures.tmux import Tmux
from tests.integration.test_metrics import value

pytestmark = [pytest.mark.e2e, pytest.mark.ssh]


def forward_world(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd,
                  **kr4: Any) -> tuple[World, int]:
    """The e2e world whose kr4 (the private sshd) has its hooks forwarded to a free port."""
    port = free_port()
    world = make_world(tmp_path, botapi, tmux, sshd,
                       kr4={"hooks_via": "ssh", "hooks_port": port, **kr4})
    assert port != world.hub.port
    return world, port


def metrics(world: World) -> str:
    return HTTP.get(f"{world.hub.url}/metrics", timeout=5).text


def forward_up(world: World, server: str = "kr4") -> float:
    return value(metrics(world), "ssh_hook_forward_up", server=server)


def listeners(port: int) -> dict[str, set[str]]:
    """Socket inodes listening on `port`, by local address (from /proc/net/tcp and tcp6)."""
    out: dict[str, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            addr, _, hexport = cols[1].rpartition(":")
            if int(hexport, 16) == port and cols[3] == "0A":
                out.setdefault(addr, set()).add(cols[9])
    return out


def sshd_owns(sshd: Sshd, inodes: set[str]) -> bool:
    pids = sshd.connection_pids()
    pids += _descendants(pids, _children_map())
    return any(_owns_socket(pid, inodes) for pid in pids)


def stop_event(cwd: str, reply: str, session: str) -> dict[str, Any]:
    return {"hook_event_name": "Stop", "session_id": session, "cwd": cwd,
            "last_assistant_message": reply}


def test_a_hook_reaches_the_hub_and_telegram_through_the_forward(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    world, hooks_port = forward_world(tmp_path, botapi, tmux, sshd)
    world.hub.start()
    try:
        wait_until(lambda: forward_up(world) == 1, 15, message="the hook forward")
        # The listener is sshd's (the server side of the hub's connection), on loopback only.
        found = listeners(hooks_port)
        assert set(found) == {"0100007F"}, f"127.0.0.1 only, found {found}"
        assert sshd_owns(sshd, found["0100007F"]), "sshd listens for the hub"
        assert any("hook forward for kr4 up" in line for line in world.hub.logs().splitlines())

        env = hook_env(f"http://127.0.0.1:{hooks_port}", "kr4", world.workdir)
        proc = run_hook(stop_event("/srv/kr4/shop", "forwarded reply", "s-fwd"), env)
        assert proc.returncode == 0, proc.stderr
        msg = botapi.wait_for_message(lambda m: "forwarded reply" in m["text"])
        assert "kr4:1" in msg["text"], msg["text"]
        assert not list((world.workdir / "spool-kr4").glob("*.json")), "sent, not spooled"
        sessions = world.hub.api("GET", "/api/sessions").json()["sessions"]
        assert [s["handle"] for s in sessions] == ["kr4:1"]

        # `ccr doctor` walks the hook's path from the server's side.
        out = " ".join(world.hub.ccr("doctor").stdout.split())  # rich wraps at 80 columns
        assert (f'✓ server kr4 hooks: 127.0.0.1:{hooks_port} there (hooks_via = "ssh"): '
                "the hub's forward leads to the hub") in out, out
    finally:
        world.hub.stop()
    # Torn down with the hub: nothing listens on the server's hooks_port any more.
    wait_until(lambda: not listeners(hooks_port), 5, message="the forward to close")
    out = " ".join(world.hub.ccr("doctor").stdout.split())
    assert "! server kr4 hooks:" in out and "no forward while the hub is not running" in out, out


def test_direct_hooks_open_no_forward(tmp_path: Path, botapi: Any, tmux: Tmux,
                                      sshd: Sshd) -> None:
    direct_port = free_port()
    world = make_world(tmp_path, botapi, tmux, sshd,
                       kr4={"hooks_via": "direct", "hooks_port": direct_port})
    # A second server on the same sshd whose hooks do ride SSH: once its forward is up,
    # the hub has been at it long enough for kr4's to have shown, had it been asked for.
    kr5_port = free_port()
    kr5 = {"id": "kr5", "kind": "ssh", "host": sshd.host, "port": sshd.port, "user": sshd.user,
           "identity": str(sshd.identity), "known_hosts": str(sshd.known_hosts),
           "hooks_port": kr5_port}
    config = world.hub.config
    config.write_text(config.read_text() + "[[servers]]\n" + "".join(
        f"{k} = {toml_value(v)}\n" for k, v in kr5.items()))
    world.hub.start()
    try:
        wait_until(lambda: forward_up(world, "kr5") == 1, 15, message="kr5's forward")
        time.sleep(0.3)
        assert not listeners(direct_port), "no listener on a direct server's hooks_port"
        text = metrics(world)
        assert 'ssh_hook_forward_up{server="kr5"} 1.0' in text
        assert 'ssh_hook_forward_up{server="kr4"}' not in text
        assert not [line for line in world.hub.logs().splitlines()
                    if "hook forward for kr4" in line]
    finally:
        world.hub.stop()
