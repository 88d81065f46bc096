"""tmux on another machine over one kept-open asyncssh connection per server.

Host keys are always verified against the configured known_hosts file. Failures are sorted
by whether the command could have reached the remote side: a connect, auth, host-key or
channel-open failure never ran anything (`sent=False`); a connection lost after the exec
request may have (`sent=True`), and the executor then never retypes on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh

from ccr.core.config import SshServer
from ccr.core.errors import RemoteError
from ccr.remote.control import Stream, remote_command
from ccr.remote.pool import PooledConnection, SshPool
from ccr.remote.ssh_errors import connect_error
from ccr.remote.transport import ProgramOutput, tmux_failure


class _Client(asyncssh.SSHClient):
    """Notices a lost connection so the next call reconnects instead of failing."""

    def __init__(self) -> None:
        self.lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class _Exec(asyncssh.SSHClientSession[bytes]):
    """One remote tmux invocation: knows whether its channel was ever opened."""

    def __init__(self) -> None:
        self.opened = False
        self.out = bytearray()
        self.err = bytearray()
        self.error: Exception | None = None
        self.done = asyncio.Event()

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        # Called once the server confirmed the channel, before the exec request is sent.
        self.opened = True

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        (self.err if datatype == asyncssh.EXTENDED_DATA_STDERR else self.out).extend(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        self.done.set()


class SshTransport:
    """One persistent SSH connection; each tmux call is one exec channel on it."""

    def __init__(self, server: SshServer, *, timeout: float = 10.0,
                 connect_timeout: float = 10.0, pool: SshPool | None = None) -> None:
        self.pool = pool
        """With a pool, each call takes a counted channel from it; without, one connection."""
        self.server = server
        self.server_id = server.id
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._conn: asyncssh.SSHClientConnection | None = None
        self._client: _Client | None = None
        self._connect_lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        if self.pool is not None:
            return self.pool.connections().get(self.server_id, 0) > 0
        return self._conn is not None and self._client is not None and not self._client.lost

    @contextlib.asynccontextmanager
    async def _channel(self) -> AsyncIterator[asyncssh.SSHClientConnection]:
        """A connection to open one channel on, counted by the pool while in use."""
        if self.pool is None:
            yield await self.connect()
            return
        pc = await self.pool.acquire(self.server)
        failed = False
        try:
            yield pc.conn
        except RemoteError as exc:
            failed = exc.code in ("ssh_unreachable", "delivery_uncertain")
            raise
        finally:
            await self.pool.release(pc, failed=failed)

    async def open_control(self, sock: list[str]) -> Stream:
        """Start `tmux -C` on a channel held for as long as the control client lives."""
        if self.pool is None:
            conn = await self.connect()
            pc: PooledConnection | None = None
        else:
            pc = await self.pool.acquire(self.server, hold=True)
            conn = pc.conn
        try:
            proc = await asyncio.wait_for(
                conn.create_process(remote_command(sock), encoding=None,
                                    stderr=asyncssh.STDOUT), self.connect_timeout)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            if pc is not None and self.pool is not None:
                await self.pool.release(pc, hold=True, failed=not isinstance(
                    exc, asyncssh.ChannelOpenError))
            raise RemoteError("ssh_unreachable", sent=False, server=self.server_id,
                              detail=f"could not open the tmux control channel ({exc})"
                              ) from None
        return _ChannelStream(proc, self.pool, pc)

    async def connect(self) -> asyncssh.SSHClientConnection:
        """The live connection, opening a new one if needed."""
        async with self._connect_lock:
            if self._conn is not None and self._client is not None and not self._client.lost:
                return self._conn
            await self._drop()
            s = self.server
            identity = Path(s.identity)
            try:
                conn, client = await asyncio.wait_for(
                    asyncssh.create_connection(
                        _Client, s.host, port=s.port, username=s.user,
                        client_keys=[str(identity)], known_hosts=str(s.known_hosts),
                        agent_path=None, config=None, keepalive_interval=15,
                        keepalive_count_max=3, login_timeout=self.connect_timeout,
                    ),
                    self.connect_timeout,
                )
            except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
                raise connect_error(s, exc) from None
            assert isinstance(client, _Client)
            self._conn, self._client = conn, client
            return conn

    async def tmux(self, args: list[str], *, stdin: bytes | None = None) -> str:
        """Run `tmux ARGS` on one new exec channel.

        Until the channel is open no command has left the hub (`sent=False`); from then on
        the exec request may be on its way, so any failure is `sent=True`.
        """
        async with self._channel() as conn:
            return await self._run(conn, args, stdin)

    async def _run(self, conn: asyncssh.SSHClientConnection, args: list[str],
                   stdin: bytes | None) -> str:
        command = shlex.join(["tmux", *args])
        session = _Exec()
        try:
            chan, _ = await asyncio.wait_for(
                conn.create_session(lambda: session, command, encoding=None), self.timeout)
        except asyncssh.ChannelOpenError as exc:
            await self._drop()
            if session.opened:  # the exec request was refused or lost: cannot tell which
                raise self._lost(True, f"the command was not confirmed ({exc.reason})") from None
            raise RemoteError("ssh_unreachable", sent=False, server=self.server_id,
                              detail=f"could not open a channel ({exc.reason})") from None
        except TimeoutError:
            await self._drop()
            raise self._lost(session.opened, "no answer in time") from None
        except (OSError, asyncssh.Error) as exc:
            await self._drop()
            raise self._lost(session.opened, str(exc) or type(exc).__name__) from None
        try:
            if stdin:
                chan.write(stdin)
            chan.write_eof()
            await asyncio.wait_for(session.done.wait(), self.timeout)
        except TimeoutError:
            chan.close()
            raise self._lost(True, "no answer in time") from None
        except (OSError, asyncssh.Error) as exc:
            await self._drop()
            raise self._lost(True, str(exc) or type(exc).__name__) from None
        status = chan.get_exit_status()
        if session.error is not None or status is None or status < 0:
            await self._drop()
            detail = ("the remote command was killed" if status is not None and status < 0
                      else "the connection dropped")
            raise self._lost(True, detail)
        if status != 0:
            if status == 127:
                raise RemoteError("tmux_failed", sent=False, server=self.server_id,
                                  detail="tmux is not installed or not on PATH there")
            raise tmux_failure(self.server_id, bytes(session.err).decode("utf-8", "replace"))
        return bytes(session.out).decode("utf-8", "replace")

    async def run(self, argv: list[str]) -> ProgramOutput:
        """Run a program (not tmux) on the server over one exec channel, for checks such as
        `ccr doctor`; the remote login shell reads the quoted command line."""
        wait = self.timeout
        async with self._channel() as conn:
            try:
                done = await asyncio.wait_for(
                    conn.run(shlex.join(argv), check=False, stdin=asyncssh.DEVNULL), wait)
            except TimeoutError:
                return ProgramOutput(124, "", f"no answer within {wait:g} s")
            except (OSError, asyncssh.Error) as exc:
                await self._drop()
                raise RemoteError("ssh_unreachable", sent=False, server=self.server_id,
                                  detail=str(exc) or type(exc).__name__) from None

        def text(data: object) -> str:
            if isinstance(data, bytes):
                return data.decode("utf-8", "replace")
            return data if isinstance(data, str) else ""

        status = done.exit_status if done.exit_status is not None else 255
        return ProgramOutput(status, text(done.stdout), text(done.stderr))

    def _lost(self, sent: bool, detail: str) -> RemoteError:
        """A failure mid-call: uncertain once the channel was open, else never reached."""
        if sent:
            return RemoteError("delivery_uncertain", sent=True, server=self.server_id,
                               handle="?", detail=detail)
        return RemoteError("ssh_unreachable", sent=False, server=self.server_id, detail=detail)

    async def _drop(self) -> None:
        if self.pool is not None:
            return  # the pool drops the connection when the channel is given back failed
        conn, self._conn, self._client = self._conn, None, None
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        if self.pool is not None:
            return  # the pool's owner closes its connections
        conn, self._conn, self._client = self._conn, None, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(conn.wait_closed(), 2)


class _ChannelStream:
    """A remote `tmux -C` on an SSH channel as a control Stream; gives the channel back."""

    def __init__(self, proc: asyncssh.SSHClientProcess[bytes], pool: SshPool | None,
                 pc: PooledConnection | None) -> None:
        self.proc = proc
        self.pool = pool
        self.pc = pc

    async def readline(self) -> bytes:
        try:
            return await self.proc.stdout.readline()
        except (asyncssh.Error, OSError):
            return b""

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.close()
        pc, self.pc = self.pc, None
        if pc is not None and self.pool is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(self.pool.release(pc, hold=True))
