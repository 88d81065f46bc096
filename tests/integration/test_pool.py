"""The SSH pool on the real private sshd: callers past the maximum wait and then get
`ssh_pool_busy` (nothing ran), idle connections close down to the minimum, a killed
connection is dropped at once and replaced in the background (breaker permitting), the
global cap closes the least recently used
server's idle connection, and an open breaker opens no connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from ccr.core.config import ExecutorSettings, PoolSettings, SshServer
from ccr.core.errors import RemoteError
from ccr.reliability.board import BreakerBoard
from ccr.reliability.breaker import BreakerPolicy, BreakerState
from ccr.reliability.retry import RetryPolicy
from ccr.remote.executor import Executor
from ccr.remote.pool import SshPool
from ccr.remote.replace import BreakerGate
from tests.fixtures.hub import prompts, wait_until
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux
from tests.integration.test_executor import agent


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
        # no command and no upkeep: the pool notices the loss and opens a replacement itself
        await until(lambda: p.stats()["kr4"]["opened"] == 2, 5)
        await until(lambda: len(sshd.connection_pids()) == 1 and sshd.connection_pids() != [pid])
        st = p.stats()["kr4"]
        assert st["failed"] == 1 and st["replaced"] == 1 and st["open"] == 1
        assert p.health() == 1.0
        async with p.channel(srv) as pc:
            assert (await pc.conn.run("echo ok", check=True)).stdout == "ok\n"
        assert p.stats()["kr4"]["opened"] == 2  # the command used the replacement
    finally:
        await p.close()


async def test_a_command_right_after_the_drop_reaches_the_pane(
        sshd: Sshd, tmux: Tmux, tmp_path: Path) -> None:
    session, state = agent(tmux, tmp_path)
    srv = server(sshd, "laptop")
    p = SshPool(PoolSettings(min_per_server=1), connect_timeout=5)
    ex = Executor([srv], ExecutorSettings(transport="exec", settle_ms=60, enter_check_ms=100),
                  retry=RetryPolicy("ssh", attempts=3, base_s=0.05, max_s=0.2), pool=p)
    try:
        await ex.send_text(session, "before the drop")
        wait_until(lambda: prompts(state) == ["before the drop"], 5)
        for pid in sshd.connection_pids():
            sshd.drop_connection(pid)
        await ex.send_text(session, "right after the drop")  # no error reaches the user
        wait_until(lambda: prompts(state) == ["before the drop", "right after the drop"], 5)
        # back at (at least) the minimum: the replacement, maybe one the retry opened itself
        await until(lambda: p.connections()["laptop"] >= 1)
        assert p.stats()["laptop"]["failed"] >= 1
    finally:
        await ex.close()


async def test_with_the_breaker_open_no_replacement_is_tried(sshd: Sshd) -> None:
    now = [1000.0]
    board = BreakerBoard(BreakerPolicy(failures=2, open_s=30), lambda: now[0])
    p = SshPool(PoolSettings(min_per_server=1), connect_timeout=5, gate=BreakerGate(board),
                backoff=RetryPolicy("ssh", attempts=5, base_s=0.05, max_s=0.1))
    srv = server(sshd)
    try:
        async with p.channel(srv):
            pass
        sshd.stop()  # the server goes away with its connections: replacements are refused
        # each failed replacement counts on the breaker, spaced by the backoff, until it opens
        await until(lambda: board.get("kr4").state is BreakerState.OPEN)
        assert p.stats()["kr4"]["replace_failed"] == 2
        await until(lambda: not p.replacer.busy("kr4"))
        await asyncio.sleep(0.5)
        await p.maintain_once()  # nor does the upkeep try while the breaker is open
        st = p.stats()["kr4"]
        assert st["connect_errors"] == 2 and st["opened"] == 1 and st["open"] == 0

        sshd.restart()
        now[0] += 31
        await board.admit("kr4")  # the breaker's probe (the executor's guard) goes through
        async with p.channel(srv) as pc:
            assert (await pc.conn.run("true")).exit_status == 0
        await board.success("kr4")
        assert p.stats()["kr4"]["opened"] == 2 and p.stats()["kr4"]["connect_errors"] == 2
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
