"""Every SSH failure is sorted by whether the keys could have reached tmux.

`sent=False` (may be retried): connect refused, auth, host key, channel open, a timeout before
the channel opened. `sent=True` (uncertain, never retyped): the connection dropped after the
exec request, a timeout after sending. Real sshd where a real failure is cheap to make.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from ccr.core.config import ExecutorSettings, SshServer
from ccr.core.errors import RemoteError
from ccr.core.models import Session
from ccr.remote.executor import Executor
from ccr.remote.ssh import SshTransport
from tests.fixtures.sshd import Sshd


def server(**over: Any) -> SshServer:
    base: dict[str, Any] = {"id": "kr4", "kind": "ssh", "host": "127.0.0.1", "port": 22,
                            "user": "nobody", "identity": "/nonexistent",
                            "known_hosts": "/nonexistent"}
    return SshServer(**(base | over))


def for_sshd(sshd: Sshd, **over: Any) -> SshServer:
    fields: dict[str, Any] = {"host": sshd.host, "port": sshd.port, "user": sshd.user,
                              "identity": sshd.identity, "known_hosts": sshd.known_hosts}
    return server(**(fields | over))


async def failure(transport: SshTransport) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        await transport.tmux(["-V"])
    await transport.close()
    return info.value


async def test_connect_refused_never_reached(sshd_session: Sshd) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the connect: nobody listens
    err = await failure(SshTransport(for_sshd(sshd_session, port=port), connect_timeout=2))
    assert (err.code, err.sent) == ("ssh_unreachable", False)


async def test_auth_refused_never_reached(sshd_session: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "id_stranger"
    proc = await asyncio.create_subprocess_exec(
        "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger))
    await proc.wait()
    err = await failure(SshTransport(for_sshd(sshd_session, identity=stranger)))
    assert (err.code, err.sent) == ("ssh_auth_failed", False)


async def test_unknown_host_key_never_reached(sshd_session: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    err = await failure(SshTransport(for_sshd(sshd_session, known_hosts=empty)))
    assert (err.code, err.sent) == ("ssh_host_key_unknown", False)


class FakeChan:
    def __init__(self, status: int | None) -> None:
        self.status = status
        self.closed = False

    def write(self, data: bytes) -> None:
        return None

    def write_eof(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def get_exit_status(self) -> int | None:
        return self.status


class FakeConn:
    """Plays one channel's life: `script(session)` decides how far it gets."""

    def __init__(self, script: Callable[[Any], Any]) -> None:
        self.script = script

    async def create_session(self, factory: Callable[[], Any], command: str,
                             **_: Any) -> tuple[Any, Any]:
        session = factory()
        return await self.script(session), session

    def close(self) -> None:
        return None


def faked(script: Callable[[Any], Any], timeout: float = 0.2) -> SshTransport:
    t = SshTransport(server(), timeout=timeout)

    async def connect() -> Any:
        return FakeConn(script)

    t.connect = connect  # type: ignore[method-assign]
    return t


async def test_channel_open_failure_never_reached() -> None:
    async def refuse(session: Any) -> Any:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "no")

    err = await failure(faked(refuse))
    assert (err.code, err.sent) == ("ssh_unreachable", False)


async def test_no_channel_confirmation_in_time_never_reached() -> None:
    async def hang(session: Any) -> Any:
        await asyncio.sleep(10)

    err = await failure(faked(hang))
    assert (err.code, err.sent) == ("ssh_unreachable", False)


async def test_connection_lost_after_exec_is_uncertain() -> None:
    async def drop_after_exec(session: Any) -> Any:
        chan = FakeChan(status=None)
        session.connection_made(chan)
        asyncio.get_running_loop().call_soon(
            session.connection_lost, asyncssh.ConnectionLost("Connection lost"))
        return chan

    err = await failure(faked(drop_after_exec))
    assert (err.code, err.sent) == ("delivery_uncertain", True)


async def test_exec_request_lost_is_uncertain() -> None:
    async def lost_during_exec(session: Any) -> Any:
        session.connection_made(FakeChan(None))
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, "Session request failed")

    err = await failure(faked(lost_during_exec))
    assert (err.code, err.sent) == ("delivery_uncertain", True)


async def test_timeout_after_send_is_uncertain() -> None:
    chan = FakeChan(status=None)

    async def never_answers(session: Any) -> Any:
        session.connection_made(chan)
        return chan

    err = await failure(faked(never_answers, timeout=0.1))
    assert (err.code, err.sent) == ("delivery_uncertain", True) and chan.closed


async def test_clean_exit_returns_output() -> None:
    async def ok(session: Any) -> Any:
        chan = FakeChan(status=0)
        session.connection_made(chan)
        session.data_received(b"tmux 3.3a\n", None)
        asyncio.get_running_loop().call_soon(session.connection_lost, None)
        return chan

    assert await faked(ok).tmux(["-V"]) == "tmux 3.3a\n"


async def test_executor_marks_a_failed_enter_after_typing_uncertain() -> None:
    """The text went in; the Enter's connection failed: uncertain, never retyped."""
    calls: list[list[str]] = []

    class HalfWay:
        server_id = "kr4"

        async def tmux(self, args: list[str], *, stdin: bytes | None = None) -> str:
            calls.append(args)
            if args[-1] == "Enter":
                raise RemoteError("ssh_auth_failed", sent=False, server="kr4", detail="x")
            return ""

        async def close(self) -> None:
            return None

    ex = Executor([server()], ExecutorSettings(settle_ms=0, enter_check_ms=0))
    ex._transports["kr4"] = HalfWay()
    s = Session(id=1, server_id="kr4", number=1, token="t", pane_id="%1", tmux_socket=None,
                tmux_session=None, claude_session_id=None, project=None, last_event=None,
                last_prompt=None, last_reply=None, created_at=0, updated_at=0, expires_at=1e12)
    with pytest.raises(RemoteError) as info:
        await ex.send_text(s, "hello")
    assert (info.value.code, info.value.sent) == ("delivery_uncertain", True)
    assert sum("-H" in c for c in calls) == 1
