"""A bounded pool of asyncssh connections: per server min/max, channels counted, one global cap.

Each connection carries up to `channels_per_connection` channels (OpenSSH allows 10 by
default). A caller takes a channel with `channel(server)` (a short exec) or `hold(server)`
(the long-lived tmux control channel). When every connection of a server is full and the
server is at `max_per_server`, callers wait in line up to `wait_timeout_s`, then get a
`RemoteError` (`ssh_pool_busy`, `sent=False`: nothing ran). At the global cap the least
recently used idle connection of any server is closed to make room. A connection that is
lost is dropped at once and replaced in the background right away (`ccr.remote.replace`, which
asks the server's breaker); `maintain()` closes idle ones after `idle_close_s` (down to the
minimum), re-opens to the minimum, and checks health only where nothing else proved the
connection alive recently (a control channel that answers is proof enough). An open breaker
opens no connection (`may_open`); a failed open raises, which the executor counts against the
server's breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from ccr.core.config import PoolSettings, SshServer
from ccr.core.errors import RemoteError
from ccr.reliability.retry import RetryPolicy
from ccr.remote.replace import DEFAULT_BACKOFF, Replacer, ServerGate
from ccr.remote.ssh_errors import connect_error

MAX_OPENING = 10
"""SSH connections opened at once by one pool. A hub start with hundreds of SSH servers asks
for all of them at the same moment (hook forwards, probes); unbounded, their handshakes keep
the event loop so busy that the API answers only once they are done, and a server's sshd
drops what exceeds its MaxStartups. With ten at a time the API answers while they open."""


class _Client(asyncssh.SSHClient):
    """Notices a lost connection so the pool drops it at once."""

    def __init__(self) -> None:
        self.lost = False
        self.on_lost: Callable[[], None] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.on_lost is not None:
            self.on_lost()


@dataclass(eq=False)
class PooledConnection:
    server_id: str
    conn: asyncssh.SSHClientConnection
    client: _Client
    opened_at: float
    last_used: float
    channels: int = 0
    held: int = 0
    pins: int = 0
    """Holders that keep it open without a channel (a hook forward): never closed idle."""
    proven_at: float = 0.0
    """Last time something (a reply, a health check) proved it alive."""

    @property
    def alive(self) -> bool:
        return not self.client.lost


@dataclass
class _Stats:
    opened: int = 0
    closed_idle: int = 0
    failed: int = 0
    evicted: int = 0
    waits: int = 0
    timeouts: int = 0
    health_checks: int = 0
    health_skipped: int = 0
    connect_errors: int = 0
    waiting: int = 0


Connector = Callable[[SshServer], Awaitable[tuple[asyncssh.SSHClientConnection, _Client]]]


async def open_connection(server: SshServer, connect_timeout: float,
                          keepalive_s: float) -> tuple[asyncssh.SSHClientConnection, _Client]:
    """One verified SSH connection; RemoteError(sent=False) when it cannot be opened."""
    try:
        conn, client = await asyncio.wait_for(
            asyncssh.create_connection(
                _Client, server.host, port=server.port, username=server.user,
                client_keys=[str(Path(server.identity))], known_hosts=str(server.known_hosts),
                agent_path=None, config=None, keepalive_interval=keepalive_s,
                keepalive_count_max=3, login_timeout=connect_timeout,
            ),
            connect_timeout,
        )
    except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
        raise connect_error(server, exc) from None
    assert isinstance(client, _Client)
    return conn, client


class SshPool:
    """Connections for every SSH server, with channel accounting and a global cap."""

    def __init__(self, settings: PoolSettings, *, connect_timeout: float = 10.0,
                 connector: Connector | None = None,
                 may_open: Callable[[str], bool] | None = None,
                 gate: ServerGate | None = None, backoff: RetryPolicy = DEFAULT_BACKOFF,
                 clock: Callable[[], float] = time.monotonic,
                 max_opening: int = MAX_OPENING) -> None:
        self.settings = settings
        self.connect_timeout = connect_timeout
        self.connector = connector or (lambda s: open_connection(
            s, connect_timeout, settings.keepalive_s))
        self.may_open = may_open or (gate.may_open if gate is not None else None)
        """False for a server whose breaker is open: no connection is opened for it."""
        self.replacer = Replacer(self._open_spare, gate=gate, backoff=backoff)
        """Re-opens a lost connection at once, in the background (breaker permitting)."""
        self._closed = False
        self.clock = clock
        self.servers: dict[str, SshServer] = {}
        self.proof: dict[str, Callable[[], bool]] = {}
        """Per server: True when a control channel answered recently (liveness for free)."""
        self._conns: dict[str, list[PooledConnection]] = {}
        self._opening: dict[str, int] = {}
        self._opened: dict[str, asyncio.Event] = {}
        """Per server with connections being opened: set when the last of them is done."""
        self._handshakes = asyncio.Semaphore(max_opening)
        """Connections being opened at once, across all servers (see MAX_OPENING)."""
        self._cond = asyncio.Condition()
        self._stats: dict[str, _Stats] = {}

    # -- taking and giving back channels ---------------------------------------------------

    @contextlib.asynccontextmanager
    async def channel(self, server: SshServer) -> AsyncIterator[PooledConnection]:
        """One channel on a live connection for the duration of the block."""
        pc = await self.acquire(server)
        try:
            yield pc
        finally:
            await self.release(pc)

    async def acquire(self, server: SshServer, *, hold: bool = False) -> PooledConnection:
        self.servers.setdefault(server.id, server)
        st = self._stat(server.id)
        deadline = self.clock() + self.settings.wait_timeout_s
        waited = False
        async with self._cond:
            while True:
                conns = self._live(server.id)
                free = [c for c in conns if c.channels < self.settings.channels_per_connection]
                if free:
                    pc = min(free, key=lambda c: c.channels)
                    pc.channels += 1
                    pc.held += int(hold)
                    pc.last_used = self.clock()
                    return pc
                if not conns and self._opening.get(server.id, 0):
                    # The server's first connection is on its way (a pin or another caller
                    # opened it): share it rather than open a second one at the same time.
                    await self._wait_opening(server.id, None)
                    continue
                if len(conns) + self._opening.get(server.id, 0) < self.settings.max_per_server:
                    self._make_room_locked()
                    if self._total() < self.settings.max_total:
                        pc = await self._open_locked(server)
                        pc.channels += 1
                        pc.held += int(hold)
                        return pc
                remaining = deadline - self.clock()
                if remaining <= 0:
                    st.timeouts += 1
                    raise RemoteError(
                        "ssh_pool_busy", sent=False, server=server.id,
                        detail=f"all {len(conns)} connection(s) are busy; waited "
                               f"{self.settings.wait_timeout_s:g} s")
                if not waited:
                    st.waits += 1
                    waited = True
                st.waiting += 1
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cond.wait(), remaining)
                finally:
                    st.waiting -= 1

    async def pin(self, server: SshServer) -> PooledConnection:
        """A live connection kept open until `unpin` (a remote port forward lives on it).

        A pin takes no channel: it rides any live connection of the server, and while pinned
        the connection is never closed idle nor evicted at the global cap. A replacement
        already being opened for the server is waited for rather than doubled.
        """
        self.servers.setdefault(server.id, server)
        async with self._cond:
            deadline = self.clock() + self.connect_timeout
            while (not self._live(server.id) and self._opening.get(server.id, 0)
                   and self.clock() < deadline):
                await self._wait_opening(server.id, deadline - self.clock())
            conns = self._live(server.id)
            if conns:
                pc = min(conns, key=lambda c: c.channels)
            else:
                self._make_room_locked()
                if self._total() >= self.settings.max_total:
                    raise RemoteError(
                        "ssh_pool_busy", sent=False, server=server.id,
                        detail=f"the pool is at its cap of {self.settings.max_total} "
                               "connections (pool.max_total)")
                pc = await self._open_locked(server)
            pc.pins += 1
            return pc

    async def _wait_opening(self, server_id: str, within_s: float | None) -> None:
        """With the lock held: let it go until the connections being opened for this server
        are open or failed (or `within_s` passes), then take it again. Only this server's
        waiters wake, not every waiter of the pool (hundreds at a big hub's start)."""
        opened = self._opened.get(server_id)
        if opened is None:
            return
        self._cond.release()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(opened.wait(), within_s)
        finally:
            await self._cond.acquire()

    async def unpin(self, pc: PooledConnection) -> None:
        async with self._cond:
            pc.pins = max(0, pc.pins - 1)
            pc.last_used = self.clock()
            self._cond.notify_all()

    def _make_room_locked(self) -> None:
        """At the global cap, close the least recently used idle connection of any server."""
        if self._total() >= self.settings.max_total:
            victim = self._lru_idle()
            if victim is not None:
                self._stat(victim.server_id).evicted += 1
                self._forget(victim)
                victim.conn.close()

    async def release(self, pc: PooledConnection, *, hold: bool = False,
                      failed: bool = False) -> None:
        async with self._cond:
            pc.channels = max(0, pc.channels - 1)
            pc.held = max(0, pc.held - int(hold))
            now = self.clock()
            pc.last_used = now
            if failed or not pc.alive:
                self._drop_locked(pc)
            else:
                pc.proven_at = now
            self._cond.notify_all()

    async def discard(self, pc: PooledConnection) -> None:
        """The connection misbehaved: remove it at once (its channels end with it)."""
        async with self._cond:
            self._drop_locked(pc)
            self._cond.notify_all()

    async def _open_locked(self, server: SshServer) -> PooledConnection:
        """Open a connection; the lock is let go while connecting."""
        if self.may_open is not None and not self.may_open(server.id):
            raise RemoteError("ssh_unreachable", sent=False, server=server.id,
                              detail="its circuit breaker is open; no connection opened")
        self._opening[server.id] = self._opening.get(server.id, 0) + 1
        self._opened.setdefault(server.id, asyncio.Event())
        self._cond.release()
        try:
            async with self._handshakes:
                conn, client = await self.connector(server)
        except RemoteError:
            self._stat(server.id).connect_errors += 1
            raise
        finally:
            await self._cond.acquire()
            self._opening[server.id] -= 1
            if not self._opening[server.id]:
                self._opened.pop(server.id).set()
            self._cond.notify_all()
        now = self.clock()
        pc = PooledConnection(server.id, conn, client, now, now, proven_at=now)
        client.on_lost = lambda: self._on_lost(pc)
        self._conns.setdefault(server.id, []).append(pc)
        self._stat(server.id).opened += 1
        return pc

    def _on_lost(self, pc: PooledConnection) -> None:
        if pc in self._conns.get(pc.server_id, []):
            self._stat(pc.server_id).failed += 1
            self._forget(pc)
            self._replace(pc.server_id)
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    def _drop_locked(self, pc: PooledConnection) -> None:
        if pc in self._conns.get(pc.server_id, []):
            self._stat(pc.server_id).failed += 1
            self._forget(pc)
            self._replace(pc.server_id)
        pc.conn.close()

    def _replace(self, server_id: str) -> None:
        """A connection failed: start its replacement now if the server is below its minimum."""
        if not self._closed and server_id in self.servers and self._short(server_id):
            self.replacer.lost(server_id)

    def _short(self, server_id: str) -> bool:
        return (len(self._live(server_id)) + self._opening.get(server_id, 0)
                < self.settings.min_per_server)

    async def _open_spare(self, server_id: str) -> bool:
        """One replacement connection if still short of the minimum (the replacer's step)."""
        server = self.servers.get(server_id)
        async with self._cond:
            if (self._closed or server is None or not self._short(server_id)
                    or self._total() >= self.settings.max_total
                    or (self.may_open is not None and not self.may_open(server_id))):
                return False
            await self._open_locked(server)
            self._cond.notify_all()
            return True

    def _forget(self, pc: PooledConnection) -> None:
        conns = self._conns.get(pc.server_id, [])
        if pc in conns:
            conns.remove(pc)

    def _live(self, server_id: str) -> list[PooledConnection]:
        conns = self._conns.get(server_id, [])
        for c in [c for c in conns if not c.alive]:
            conns.remove(c)
        return conns

    def _total(self) -> int:
        return sum(len(v) for v in self._conns.values()) + sum(self._opening.values())

    def _lru_idle(self) -> PooledConnection | None:
        idle = [c for conns in self._conns.values() for c in conns
                if c.channels == 0 and not c.pins]
        return min(idle, key=lambda c: c.last_used) if idle else None

    def _stat(self, server_id: str) -> _Stats:
        return self._stats.setdefault(server_id, _Stats())

    # -- upkeep -------------------------------------------------------------------------

    async def maintain_once(self) -> None:
        """Close idle connections above the minimum, check health, refill to the minimum."""
        now = self.clock()
        async with self._cond:
            for sid in list(self._conns):
                conns = self._live(sid)
                idle = sorted((c for c in conns if c.channels == 0 and not c.pins
                               and now - c.last_used >= self.settings.idle_close_s),
                              key=lambda c: c.last_used)
                keep = self.settings.min_per_server if sid in self.servers else 0
                for c in idle[:max(0, len(conns) - keep)]:
                    self._stat(sid).closed_idle += 1
                    self._forget(c)
                    c.conn.close()
        for sid in list(self._conns):
            for c in list(self._conns.get(sid, [])):
                await self._health(c, now)
        for server in list(self.servers.values()):
            await self._refill(server)

    async def _health(self, pc: PooledConnection, now: float) -> None:
        proof = self.proof.get(pc.server_id)
        fresh = now - pc.proven_at < self.settings.health_interval_s
        if fresh or (pc.held and proof is not None and proof()):
            self._stat(pc.server_id).health_skipped += 1
            return
        self._stat(pc.server_id).health_checks += 1
        try:
            await asyncio.wait_for(pc.conn.run("true", check=False), self.connect_timeout)
            pc.proven_at = self.clock()
        except (OSError, asyncssh.Error, TimeoutError):
            await self.discard(pc)

    async def _refill(self, server: SshServer) -> None:
        live = len(self._live(server.id))
        if live >= self.settings.min_per_server:
            return
        if self.may_open is not None and not self.may_open(server.id):
            return
        async with self._cond:
            while (len(self._live(server.id)) + self._opening.get(server.id, 0)
                   < self.settings.min_per_server and self._total() < self.settings.max_total):
                try:
                    await self._open_locked(server)
                except RemoteError:
                    return

    async def run(self) -> None:
        """Upkeep forever, every `health_interval_s`."""
        while True:
            await asyncio.sleep(self.settings.health_interval_s)
            with contextlib.suppress(Exception):
                await self.maintain_once()

    # -- reading ------------------------------------------------------------------------

    def connections(self) -> dict[str, int]:
        return {sid: len([c for c in self._conns.get(sid, []) if c.alive])
                for sid in self.servers}

    def stats(self) -> dict[str, dict[str, int | float]]:
        """Per server: open, busy, idle, channels, waiting, and counters since start."""
        out: dict[str, dict[str, int | float]] = {}
        for sid in sorted(set(self.servers) | set(self._conns)):
            conns = [c for c in self._conns.get(sid, []) if c.alive]
            st = self._stat(sid)
            out[sid] = {
                "open": len(conns),
                "busy": sum(1 for c in conns if c.channels),
                "idle": sum(1 for c in conns if not c.channels),
                "opening": self._opening.get(sid, 0),
                "channels": sum(c.channels for c in conns),
                "held": sum(c.held for c in conns),
                "pinned": sum(1 for c in conns if c.pins),
                "waiting": st.waiting,
                "opened": st.opened, "failed": st.failed, "closed_idle": st.closed_idle,
                "evicted": st.evicted, "waits": st.waits, "timeouts": st.timeouts,
                "connect_errors": st.connect_errors, "health_checks": st.health_checks,
                "health_skipped": st.health_skipped,
                "replaced": self.replacer.replaced.get(sid, 0),
                "replace_failed": self.replacer.failed.get(sid, 0),
            }
        return out

    def health(self) -> float:
        """Share of servers with at least one live connection (1.0 when none are known)."""
        known = [sid for sid in self.servers]
        if not known:
            return 1.0
        return sum(1 for sid in known if self._live(sid)) / len(known)

    async def forget(self, server_id: str) -> None:
        """The server left the configuration: close its connections, keep nothing of it."""
        async with self._cond:
            self.servers.pop(server_id, None)
            self.proof.pop(server_id, None)
            self._stats.pop(server_id, None)
            conns = self._conns.pop(server_id, [])
            self._cond.notify_all()
        for c in conns:
            c.conn.close()

    async def close(self) -> None:
        self._closed = True
        await self.replacer.close()
        async with self._cond:
            conns = [c for v in self._conns.values() for c in v]
            self._conns.clear()
        for c in conns:
            c.conn.close()
        for c in conns:
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(c.conn.wait_closed(), 2)
