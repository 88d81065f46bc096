"""Hooks over the hub's own SSH link: one remote port forward per server with hooks_via="ssh".

For each such server the hub asks sshd there to listen on 127.0.0.1:<hooks_port> (the
server's loopback only) and to carry every connection to it back over the SSH connection the
pool already keeps, to the hub's own ingest. The server's hook posts to that port
(`Settings.hook_url_for`), so the server needs no route to the hub and the hub no open port.

One forward per server, on whichever pooled connection it was opened on; that connection is
pinned (never closed idle or evicted) while it carries the forward. When the connection goes
away the forward goes with it and is asked for again on the pool's replacement (or a new
connection), retried with the SSH backoff for as long as the hub runs. A hook that fires
while it is down finds nothing listening, spools, and is sent by its next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncssh

from ccr.core.config import SshServer
from ccr.core.errors import RemoteError
from ccr.reliability.retry import RetryPolicy
from ccr.remote.pool import PooledConnection, SshPool, open_connection

LogSink = Callable[[str, str], None]
"""(level, text): the hub's log."""

LISTEN_HOST = "127.0.0.1"
"""Where the forward listens on the server: its loopback, never a public address."""


@dataclass
class ForwardState:
    """Where one server's hook forward stands now, and what happened to it since start."""

    server_id: str
    port: int
    up: bool = False
    detail: str = "not opened yet"
    since: float = 0.0
    """When `up` last changed (the hub's clock)."""
    opened: int = 0
    """Times the forward was established (1 + re-establishments after drops)."""
    failures: int = 0
    """Attempts that did not establish it (no connection, port taken, refused)."""
    last_down_s: float | None = None
    """How long it was down before it last came back (None until it came back once)."""


def hub_destination(host: str) -> str:
    """The address the hub's ingest is reached at from the hub itself."""
    if host in ("", "0.0.0.0"):  # nosec B104: maps a wildcard listen address to loopback; binds nothing
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


class HookForwards:
    """Keeps a remote port forward open to the hub's ingest for every hooks_via="ssh" server."""

    def __init__(self, servers: list[SshServer], pool: SshPool, *, backoff: RetryPolicy,
                 log: LogSink | None = None, clock: Callable[[], float] = time.time,
                 request_timeout_s: float = 10.0) -> None:
        self.servers = [s for s in servers if s.hooks_via == "ssh"]
        self.pool = pool
        self.backoff = backoff
        self.log = log or (lambda _level, _text: None)
        self.clock = clock
        self.request_timeout_s = request_timeout_s
        self._states = {s.id: ForwardState(s.id, s.hooks_port) for s in self.servers}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        self._down_at: dict[str, float] = {}
        self._dest: tuple[str, int] | None = None
        """The hub's ingest (host, port), once started."""

    # -- reading ----------------------------------------------------------------------------

    def states(self) -> dict[str, ForwardState]:
        return dict(self._states)

    def up(self) -> dict[str, bool]:
        """Per forwarded server: is its forward listening now."""
        return {sid: st.up for sid, st in self._states.items()}

    def figures(self) -> dict[str, dict[str, float]]:
        """Per forwarded server, for /metrics: up (1/0), opened and failures since start."""
        return {sid: {"up": float(st.up), "opened": float(st.opened),
                      "failures": float(st.failures)} for sid, st in self._states.items()}

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, hub_host: str, hub_port: int) -> None:
        """Open every forward in the background, to the hub's ingest at hub_host:hub_port."""
        self._dest = (hub_destination(hub_host), hub_port)
        for server in self.servers:
            self._spawn(server)

    def add(self, server: SshServer) -> None:
        """A server added while the hub runs: its forward opens now (if its hooks ride SSH)."""
        if server.hooks_via != "ssh":
            return
        self.servers = [s for s in self.servers if s.id != server.id] + [server]
        self._states[server.id] = ForwardState(server.id, server.hooks_port)
        self._spawn(server)

    async def remove(self, server_id: str) -> None:
        """A server taken out: its forward is closed and forgotten."""
        self.servers = [s for s in self.servers if s.id != server_id]
        task = self._tasks.pop(server_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        state = self._states.pop(server_id, None)
        self._down_at.pop(server_id, None)
        if state is not None and state.up:
            self.log("info", f"hook forward for {server_id} closed: the server was removed")

    def _spawn(self, server: SshServer) -> None:
        if self._dest is None or self._closed or server.id in self._tasks:
            return
        host, port = self._dest
        self._tasks[server.id] = asyncio.get_running_loop().create_task(
            self._keep(server, host, port), name=f"hook-forward-{server.id}")

    async def close(self) -> None:
        """Tear every forward down (the server stops listening) and stop re-opening them."""
        self._closed = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    # -- one server ---------------------------------------------------------------------------

    async def _keep(self, server: SshServer, dest_host: str, dest_port: int) -> None:
        failures = 0
        while not self._closed:
            try:
                pc = await self.pool.pin(server)
            except RemoteError as exc:
                failures += 1
                self._failed(server, f"no SSH connection ({exc.message})", "warning",
                             failures)
                await asyncio.sleep(self._delay(failures))
                continue
            try:
                listener = await self._request(server, pc, dest_host, dest_port)
            except _Refused as exc:
                await self.pool.unpin(pc)
                failures += 1
                self._failed(server, str(exc), "error", failures)
                await asyncio.sleep(self._delay(failures))
                continue
            except BaseException:
                await self.pool.unpin(pc)
                raise
            failures = 0
            try:
                self._went_up(server, dest_host, dest_port)
                await pc.conn.wait_closed()  # the forward lives exactly as long as this
            finally:
                with contextlib.suppress(Exception):
                    listener.close()
                await self.pool.unpin(pc)
                if self._closed:
                    self._went_down(server, "the hub is stopping", "info")
            self._went_down(server, "its SSH connection was lost; hooks there spool until "
                                    "it is back", "warning")

    async def _request(self, server: SshServer, pc: PooledConnection, dest_host: str,
                       dest_port: int) -> asyncssh.SSHListener:
        """Ask the server's sshd to listen on its loopback and forward to the hub."""
        port = server.hooks_port
        try:
            return await asyncio.wait_for(
                pc.conn.forward_remote_port(LISTEN_HOST, port, dest_host, dest_port),
                self.request_timeout_s)
        except asyncssh.ChannelListenError:
            if not pc.alive:
                raise _Refused("the SSH connection dropped while the forward was being "
                               "opened") from None
            raise _Refused(await self._why_refused(server, pc, dest_host, dest_port)) from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise _Refused(f"the forward request failed ({type(exc).__name__}: {exc})"
                           ) from None

    async def _why_refused(self, server: SshServer, pc: PooledConnection, dest_host: str,
                           dest_port: int) -> str:
        """Port taken, or forwarding forbidden: a forward on any free port tells them apart."""
        port = server.hooks_port
        allowed = False
        with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
            probe = await asyncio.wait_for(
                pc.conn.forward_remote_port(LISTEN_HOST, 0, dest_host, dest_port),
                self.request_timeout_s)
            allowed = True
            probe.close()
        if allowed:
            return (f"port {port} on {server.id}'s 127.0.0.1 is already taken (another hub, "
                    f"or a stale listener from an old connection); hooks_port = {port}: free "
                    f"that port there (`ss -ltnp 'sport = :{port}'` on {server.id} names its "
                    "owner), or set [[servers]] hooks_port to a free port and reinstall the "
                    f"hook (`ccr servers add`) so hook.env points there; retrying")
        return (f"{server.id}'s sshd refused to forward 127.0.0.1:{port} to the hub "
                "(AllowTcpForwarding is off, or `restrict`/`no-port-forwarding` on the key): "
                "allow remote forwarding for this login, or set hooks_via = \"direct\" "
                "with a [hub] hook_url the server can reach; retrying")

    def _delay(self, failures: int) -> float:
        """The SSH backoff (doubling, jittered, capped at ssh_max_s), for as long as it takes:
        a forward is never given up on while the hub runs."""
        return self.backoff.delay(min(failures, 30))

    # -- state changes -------------------------------------------------------------------------

    def _went_up(self, server: SshServer, dest_host: str, dest_port: int) -> None:
        st = self._states[server.id]
        now = self.clock()
        down_at = self._down_at.pop(server.id, None)
        st.last_down_s = None if down_at is None else now - down_at
        st.up, st.since, st.opened = True, now, st.opened + 1
        st.detail = f"127.0.0.1:{server.hooks_port} on {server.id} -> hub {dest_host}:{dest_port}"
        again = "" if down_at is None else f" again after {st.last_down_s:.2f} s"
        self.log("info", f"hook forward for {server.id} up{again}: {st.detail}")

    def _went_down(self, server: SshServer, why: str, level: str) -> None:
        st = self._states[server.id]
        if not st.up:
            return
        now = self.clock()
        st.up, st.since, st.detail = False, now, why
        self._down_at[server.id] = now
        self.log(level, f"hook forward for {server.id} down: {why}")

    def _failed(self, server: SshServer, why: str, level: str, failures: int) -> None:
        st = self._states[server.id]
        st.failures += 1
        said, st.detail = st.detail, why
        if failures == 1 or said != why or failures % 10 == 0:
            self.log(level, f"hook forward for {server.id} not open (attempt {failures}): "
                            f"{why}")


class _Refused(Exception):
    """The server did not open the forward; the message says why and what to do."""


# -- checking the path from the server's side (ccr doctor) -----------------------------------

@dataclass(frozen=True)
class HookPath:
    """What a hook on the server meets at its hub URL: `outcome` is one of "hub" (ccr's hub
    answered), "refused" (nothing listens), "prohibited" (sshd forbids the forward),
    "other" (something that is not the hub answered), "unreachable" (no SSH connection)."""

    outcome: str
    detail: str


async def hook_path(server: SshServer, host: str, port: int, *, within_s: float = 10.0,
                    http: bool = True) -> HookPath:
    """Connect from the server to host:port as its hook would (over a direct-tcpip channel
    of a fresh SSH connection) and ask for /healthz; `http=False` only connects (https)."""
    try:
        conn, _ = await open_connection(server, within_s, keepalive_s=within_s)
    except RemoteError as exc:
        return HookPath("unreachable", exc.message)
    try:
        async with asyncio.timeout(within_s):
            reader, writer = await conn.open_connection(host, port)
            if not http:
                writer.close()
                return HookPath("hub", "connected")
            writer.write(f"GET /healthz HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
            answer = await reader.read(4096)
            writer.close()
    except asyncssh.ChannelOpenError as exc:
        if exc.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED:
            return HookPath("prohibited", exc.reason)
        return HookPath("refused", exc.reason or "connection refused")
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        return HookPath("other", f"no HTTP answer ({type(exc).__name__})")
    finally:
        conn.close()
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace").strip()
    if b'"status"' in answer and status_line.split(" ")[1:2] in (["200"], ["503"]):
        return HookPath("hub", status_line)  # ccr's /healthz (503 while it starts)
    return HookPath("other", status_line or "no answer")
