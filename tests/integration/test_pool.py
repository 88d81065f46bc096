"""The SSH pool on the real private sshd: callers past the maximum wait and then get
`ssh_pool_busy` (nothing ran), idle connections close down to the minimum, a killed
connection is dropped at once and replaced, the global cap closes the least recently used
server's idle connection, and an open breaker opens no connection."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ccr.config import PoolSettings, SshServer
from ccr.errors import RemoteError
from ccr.reliability.board import BreakerBoard
from ccr.reliability.breaker import BreakerPolicy, BreakerState
from ccr.remote.pool import SshPool
from tests.fixtures.sshd import Sshd


def server(sshd: Sshd, server_id: str = "kr4") -> SshServer:
    return SshServer(id=server_id, kind="ssh", host=sshd.host, port=sshd.port, user=sshd.user,
                     identity=sshd.identity, known_hosts=sshd.known_hosts)


def pool(**settings: Any) -> SshPool:
    base: dict[str, Any] = {"min_per_server": 1, "max_per_server": 2,
                            "channels_per_connection": 1, "wait_timeout_s": 0.5}
    return SshPool(PoolSettings(**(base | settings)), connect_timeout=5)


async def until(predicate: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_users_past_the_maximum_wait_their_turn(sshd: Sshd) -> None:
    p, srv = pool(wait_timeout_s=5), server(sshd)
    running = peak = 0

    async def user(n: int) -> str:
        nonlocal running, peak
        async with p.channel(srv) as pc:
            running += 1
            peak = max(peak, running)
            result = await pc.conn.run(f"sleep 0.1; echo {n}", check=True)
            running -= 1
            return str(result.stdout).strip()

    try:
        # six users, two connections of one channel each: four of them wait their turn
        assert await asyncio.gather(*(user(n) for n in range(6))) == [str(n) for n in range(6)]
        st = p.stats()["kr4"]
        assert peak == 2 and st["opened"] == 2 and st["open"] == 2
        assert st["waits"] == 4 and st["timeouts"] == 0 and st["channels"] == 0
        assert len(sshd.connection_pids()) == 2
    finally:
        await p.close()


async def test_a_waiter_past_the_timeout_gets_pool_busy_and_nothing_ran(sshd: Sshd) -> None:
    p, srv = pool(wait_timeout_s=0.5), server(sshd)
    try:
        a, b = await p.acquire(srv), await p.acquire(srv)
        waiter = asyncio.create_task(p.acquire(srv))
        await until(lambda: p.stats()["kr4"]["waiting"] == 1)
        await p.release(a)  # a freed channel goes to the one waiting
        c = await asyncio.wait_for(waiter, 1)
        assert c is a

        started = time.monotonic()
        with pytest.raises(RemoteError) as err:
            await p.acquire(srv)  # both busy, at the maximum: waits 0.5 s, then gives up
        assert 0.45 <= time.monotonic() - started < 2
        assert err.value.code == "ssh_pool_busy" and err.value.sent is False
        st = p.stats()["kr4"]
        assert st["timeouts"] == 1 and st["opened"] == 2 and st["waiting"] == 0
        assert len(sshd.connection_pids()) == 2  # no third connection was tried
        await p.release(b)
        await p.release(c)
    finally:
        await p.close()


async def test_idle_connections_close_down_to_the_minimum(sshd: Sshd) -> None:
    p, srv = pool(max_per_server=3, idle_close_s=0.3), server(sshd)
    try:
        held = [await p.acquire(srv) for _ in range(3)]
        for pc in held:
            await p.release(pc)
        assert p.connections() == {"kr4": 3}
        await p.maintain_once()  # not idle long enough yet
        assert p.connections() == {"kr4": 3}
        await asyncio.sleep(0.35)
        await p.maintain_once()
        assert p.connections() == {"kr4": 1}
        assert p.stats()["kr4"]["closed_idle"] == 2 and p.stats()["kr4"]["failed"] == 0
        await until(lambda: len(sshd.connection_pids()) == 1)  # really closed on the server
        async with p.channel(srv) as pc:  # the one kept still works
            assert (await pc.conn.run("echo ok", check=True)).stdout == "ok\n"
    finally:
        await p.close()


async def test_a_killed_connection_is_dropped_at_once_and_replaced(sshd: Sshd) -> None:
    p, srv = pool(), server(sshd)
    try:
        async with p.channel(srv):
            pass
        (pid,) = sshd.connection_pids()
        sshd.drop_connection(pid)
        await until(lambda: p.connections() == {"kr4": 0}, 3)  # no upkeep needed to notice
        assert p.stats()["kr4"]["failed"] == 1 and p.health() == 0.0
        await p.maintain_once()  # refills to the minimum
        assert p.connections() == {"kr4": 1} and p.stats()["kr4"]["opened"] == 2
        assert p.health() == 1.0
        new = sshd.connection_pids()
        assert len(new) == 1 and new != [pid]
        async with p.channel(srv) as pc:
            assert (await pc.conn.run("echo ok", check=True)).stdout == "ok\n"
    finally:
        await p.close()


async def test_the_global_cap_closes_the_least_recently_used_idle_connection(
        sshd: Sshd) -> None:
    p = pool(max_total=2)
    a, b, c = (server(sshd, sid) for sid in ("alpha", "bravo", "charlie"))
    try:
        for srv in (a, b, a):  # alpha used last: bravo is the least recently used
            async with p.channel(srv):
                await asyncio.sleep(0.01)
        async with p.channel(c) as pc:
            assert (await pc.conn.run("true")).exit_status == 0
        stats = p.stats()
        assert p.connections() == {"alpha": 1, "bravo": 0, "charlie": 1}
        assert stats["bravo"]["evicted"] == 1 and stats["alpha"]["evicted"] == 0
        assert stats["bravo"]["failed"] == 0  # a closed-by-us connection is no failure
        await until(lambda: len(sshd.connection_pids()) == 2)

        # at the cap with nothing idle, a fourth server waits and gives up, nothing closed
        held = [await p.acquire(a), await p.acquire(c)]
        with pytest.raises(RemoteError) as err:
            await p.acquire(b)
        assert err.value.code == "ssh_pool_busy" and err.value.sent is False
        assert p.connections() == {"alpha": 1, "bravo": 0, "charlie": 1}
        for pc in held:
            await p.release(pc)
    finally:
        await p.close()


async def test_an_open_breaker_opens_no_connection(sshd: Sshd) -> None:
    now = [1000.0]
    board = BreakerBoard(BreakerPolicy(failures=2, open_s=30), lambda: now[0])
    p = SshPool(PoolSettings(min_per_server=1), connect_timeout=5,
                may_open=lambda sid: board.get(sid).state is not BreakerState.OPEN)
    srv = server(sshd)
    try:
        for _ in range(2):
            await board.failure("kr4", "refused")
        assert board.get("kr4").state is BreakerState.OPEN
        with pytest.raises(RemoteError) as err:
            await p.acquire(srv)
        assert err.value.code == "ssh_unreachable" and err.value.sent is False
        await p.maintain_once()  # no refill either
        assert p.connections() == {"kr4": 0} and p.stats()["kr4"]["opened"] == 0
        assert sshd.connection_pids() == []

        now[0] += 31
        await board.admit("kr4")  # the executor's guard lets the probe through: half-open
        assert board.get("kr4").state is BreakerState.HALF_OPEN
        async with p.channel(srv) as pc:
            assert (await pc.conn.run("true")).exit_status == 0
        assert p.connections() == {"kr4": 1}
    finally:
        await p.close()
