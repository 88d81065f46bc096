"""A pinned connection (what a hook forward lives on) on the real private sshd: it takes no
channel, is never closed idle nor evicted at the global cap, and a pin after a drop rides the
pool's replacement instead of opening a second connection."""

from __future__ import annotations

import asyncio

import pytest

from ccr.core.config import PoolSettings
from ccr.core.errors import RemoteError
from ccr.remote.pool import SshPool
from tests.fixtures.sshd import Sshd
from tests.integration.test_pool import server, until


async def test_a_pinned_connection_stays_open_and_takes_no_channel(sshd: Sshd) -> None:
    p = SshPool(PoolSettings(min_per_server=0, channels_per_connection=1, idle_close_s=0.1),
                connect_timeout=5)
    srv = server(sshd)
    try:
        pinned = await p.pin(srv)
        assert p.stats()["kr4"]["channels"] == 0 and p.stats()["kr4"]["pinned"] == 1
        async with p.channel(srv) as pc:  # its one channel is still free for a command
            assert pc is pinned
        await asyncio.sleep(0.15)
        await p.maintain_once()
        assert p.connections() == {"kr4": 1}, "idle but pinned: kept"
        await p.unpin(pinned)
        await asyncio.sleep(0.15)
        await p.maintain_once()
        assert p.connections() == {"kr4": 0}, "unpinned and idle: closed down to the minimum"
    finally:
        await p.close()


async def test_a_pinned_connection_is_not_evicted_at_the_global_cap(sshd: Sshd) -> None:
    p = SshPool(PoolSettings(min_per_server=0, max_total=1, wait_timeout_s=0.3),
                connect_timeout=5)
    try:
        await p.pin(server(sshd, "kr4"))
        other = server(sshd, "kr5")
        with pytest.raises(RemoteError) as caught:  # the cap is held by the pinned one
            await p.acquire(other)
        assert caught.value.code == "ssh_pool_busy"
        assert p.connections()["kr4"] == 1
    finally:
        await p.close()


async def test_a_pin_after_a_drop_rides_the_replacement(sshd: Sshd) -> None:
    p = SshPool(PoolSettings(min_per_server=1), connect_timeout=5)
    srv = server(sshd)
    try:
        first = await p.pin(srv)
        (pid,) = sshd.connection_pids()
        sshd.drop_connection(pid)
        await until(lambda: not first.alive)
        await p.unpin(first)
        again = await p.pin(srv)  # the replacement is under way: wait for it, open no other
        assert again is not first and again.alive
        await until(lambda: p.stats()["kr4"]["replaced"] == 1)
        assert p.stats()["kr4"]["opened"] == 2 and p.connections() == {"kr4": 1}
    finally:
        await p.close()
