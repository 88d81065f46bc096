"""HookForwards in process on the real private sshd: a forward carries a connection made on the
server's loopback to the hub's address, a server added while running gets its forward and one
removed loses it, and a hooks_via = "direct" server is never forwarded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ccr.core.config import PoolSettings, SshServer
from ccr.reliability.retry import RetryPolicy
from ccr.remote.forward import HookForwards
from ccr.remote.pool import SshPool
from tests.fixtures.hub import free_port
from tests.fixtures.sshd import Sshd, _listener_inodes
from tests.integration.test_pool import until

pytestmark = pytest.mark.ssh


def ssh_server(sshd: Sshd, server_id: str, **keys: object) -> SshServer:
    return SshServer.model_validate({
        "id": server_id, "kind": "ssh", "host": sshd.host, "port": sshd.port,
        "user": sshd.user, "identity": sshd.identity, "known_hosts": sshd.known_hosts,
        "hooks_port": free_port(), **keys})


@pytest.fixture
async def hub_address() -> AsyncIterator[int]:
    """A stand-in for the hub's ingest: answers every connection with one line."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"the hub\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def through(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    line = await reader.readline()
    writer.close()
    return line


async def test_forwards_follow_the_servers_added_and_removed(sshd: Sshd,
                                                             hub_address: int) -> None:
    pool = SshPool(PoolSettings(), connect_timeout=5)
    lines: list[str] = []
    kr4, direct = ssh_server(sshd, "kr4"), ssh_server(sshd, "kr9", hooks_via="direct")
    forwards = HookForwards([kr4, direct], pool, log=lambda _lvl, text: lines.append(text),
                            backoff=RetryPolicy("ssh", attempts=3, base_s=0.05, max_s=0.1))
    try:
        forwards.start("0.0.0.0", hub_address)  # a hub on every address is reached locally
        assert set(forwards.up()) == {"kr4"}, "a direct server has no forward"
        await until(lambda: forwards.up()["kr4"])
        assert await through(kr4.hooks_port) == b"the hub\n"
        assert not _listener_inodes(direct.hooks_port)

        kr5 = ssh_server(sshd, "kr5")
        forwards.add(kr5)
        await until(lambda: forwards.up().get("kr5", False))
        assert await through(kr5.hooks_port) == b"the hub\n"
        assert pool.connections() == {"kr4": 1, "kr5": 1}, "one connection each, pinned"

        await forwards.remove("kr5")
        assert "kr5" not in forwards.up()
        await until(lambda: not _listener_inodes(kr5.hooks_port))
        assert any("kr5 closed: the server was removed" in line for line in lines)
    finally:
        await forwards.close()
        await pool.close()
    await until(lambda: not _listener_inodes(kr4.hooks_port))
