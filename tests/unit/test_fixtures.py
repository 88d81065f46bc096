"""Proof that the real-part fixtures (private sshd, private tmux) behave as documented."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.fixtures.sshd import Sshd, start_sshd
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.ssh


async def _connect(server: Sshd, **kwargs: object) -> asyncssh.SSHClientConnection:
    """asyncssh connection to *server* using its key and known_hosts."""
    return await asyncssh.connect(server.host, **{**server.connect_kwargs(), **kwargs})


def _ssh(server: Sshd, *remote: str, control_path: Path | None = None) -> tuple[str, float]:
    """Run a remote command with the OpenSSH client; return (stdout, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run(
        server.ssh_argv(*remote, control_path=control_path),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, (proc.returncode, proc.stderr, server.log_text())
    return proc.stdout, elapsed


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short /tmp directory (unix socket paths must stay under ~100 chars)."""
    path = Path(tempfile.mkdtemp(prefix="ccr-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- ssh client


def test_ssh_argv_runs_echo(sshd_session: Sshd) -> None:
    out, _ = _ssh(sshd_session, "echo", "hi")
    assert out == "hi\n"
    assert sshd_session.known_hosts.read_text().startswith(f"[127.0.0.1]:{sshd_session.port} ")


def test_ssh_argv_control_master(sshd: Sshd, short_dir: Path) -> None:
    control = short_dir / "cm"
    assert _ssh(sshd, "echo", "one", control_path=control)[0] == "one\n"
    assert control.exists()  # master is persisting
    assert _ssh(sshd, "echo", "two", control_path=control)[0] == "two\n"
    sshd.stop()  # also tells the master to exit
    deadline = time.monotonic() + 5
    while control.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not control.exists()


def test_ssh_argv_rejects_long_control_path(sshd_session: Sshd) -> None:
    with pytest.raises(ValueError, match="unix sockets"):
        sshd_session.ssh_argv("true", control_path=Path("/tmp/" + "x" * 120))


# --------------------------------------------------------------------------- asyncssh


async def test_asyncssh_send_keys_into_tmux_pane(sshd_session: Sshd, tmux: Tmux) -> None:
    pane = tmux.new_session("typing", ["cat"], width=80, height=10)
    assert pane.startswith("%")
    async with await _connect(sshd_session) as conn:
        result = await conn.run(
            f"tmux -L {tmux.socket_name} send-keys -t {pane} -l -- 'hello'", check=True
        )
    assert result.exit_status == 0
    assert "hello" in tmux.wait_for_text(pane, "hello", timeout=5)
    assert "hello" in await tmux.await_text(pane, "hello", timeout=5)


async def test_unknown_host_key_is_rejected(sshd_session: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await _connect(sshd_session, known_hosts=str(empty))


async def test_kill_restart_and_drop_connection(sshd: Sshd) -> None:
    port = sshd.port
    old = await _connect(sshd)
    assert (await old.run("echo before", check=True)).stdout == "before\n"
    assert len(sshd.connection_pids()) == 1

    sshd.kill()
    assert not sshd.running
    with pytest.raises(OSError):
        await _connect(sshd)
    # the established connection survives the listener, as with a real sshd
    assert (await old.run("echo survived", check=True)).stdout == "survived\n"

    sshd.restart()
    assert sshd.running and sshd.port == port
    async with await _connect(sshd) as new:  # same known_hosts: same host key
        assert (await new.run("echo after", check=True)).stdout == "after\n"
        pids = sshd.connection_pids()
        assert len(pids) == 2  # the orphaned old connection + the new one

        # drop the old connection in the middle of a command
        orphan = [p for p in pids if p not in _children(sshd.process.pid)]
        assert len(orphan) == 1
        task = asyncio.create_task(old.run("sleep 5"))
        await asyncio.sleep(0.2)
        sshd.drop_connection(orphan[0])
        # pitfall: asyncssh does not raise here, even with check=True — the result just
        # has no exit status; the connection is closed afterwards
        dropped = await asyncio.wait_for(task, 5)
        assert dropped.exit_status is None and dropped.returncode is None
        await asyncio.wait_for(old.wait_closed(), 5)
        with pytest.raises((asyncssh.Error, OSError)):
            await old.run("true")
        assert (await new.run("echo alive", check=True)).stdout == "alive\n"

    tree = [sshd.process.pid, *sshd.connection_pids()]
    sshd.stop()
    assert not sshd.running
    assert not [p for p in tree if _exists(p)]
    old.close()


async def test_freeze_times_out_and_thaw_recovers(sshd: Sshd) -> None:
    conn = await _connect(sshd)
    sshd.freeze()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await _connect(sshd, connect_timeout=1)
        # the per-connection process is frozen too: commands hang
        pending = asyncio.create_task(conn.run("echo late", check=True))
        done, _ = await asyncio.wait({pending}, timeout=0.3)
        assert not done
    finally:
        sshd.thaw()
    assert (await asyncio.wait_for(pending, 5)).stdout == "late\n"
    async with await _connect(sshd, connect_timeout=5) as again:
        assert (await again.run("echo thawed", check=True)).stdout == "thawed\n"
    conn.close()


# --------------------------------------------------------------------------- shell start-up


def test_slow_bashrc_delays_remote_commands(sshd_session: Sshd, tmp_path: Path) -> None:
    delay = 1.0
    slow = start_sshd(tmp_path / "slow", slow_bashrc_seconds=delay)
    try:
        _, slow_t = _ssh(slow, "true")
        _, fast_t = _ssh(sshd_session, "true")
    finally:
        slow.stop()
    assert slow_t >= delay, slow_t
    assert fast_t < delay, fast_t


# --------------------------------------------------------------------------- tmux


def test_tmux_session_env_cwd_capture(tmux: Tmux, tmp_path: Path) -> None:
    pane = tmux.new_session(
        "envtest",
        'printf "%s|%s\\n" "$CCR_X" "$PWD"; exec cat',
        width=100,
        height=12,
        env={"CCR_X": "42"},
        cwd=tmp_path,
    )
    screen = tmux.wait_for_text(pane, f"42|{tmp_path}", timeout=5)
    assert not screen.endswith("\n")
    assert tmux.run("display-message", "-p", "-t", pane, "#{window_width}").strip() == "100"
    assert tmux.socket_path.endswith(f"/{tmux.socket_name}")
    with pytest.raises(AssertionError, match="never-there"):
        tmux.wait_for_text(pane, "never-there", timeout=0.1)
    tmux.kill_session("envtest")
    assert "envtest" not in tmux.run("list-sessions", "-F", "#{session_name}", check=False)


def test_tmux_never_uses_default_server(tmux: Tmux) -> None:
    argv = tmux.argv("list-sessions")
    assert argv[1:3] == ["-L", tmux.socket_name]
    assert tmux.socket_name.startswith("ccr-test-")


# --------------------------------------------------------------------------- helpers


def _children(pid: int) -> list[int]:
    """Direct children of *pid* (via /proc)."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _exists(pid: int) -> bool:
    """True if *pid* is alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
