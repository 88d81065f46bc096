"""Replacing a lost SSH connection at once, in the background, without hammering the server.

When the pool loses a connection that it did not close itself (connection lost, keepalive
failure, a channel that failed with a connection error, a failed health check), it calls
`Replacer.lost(server_id)`: one task per server re-opens connections until the server is back
at `min_per_server`, so the next command finds a warm connection instead of waiting for the
periodic upkeep. The server's breaker has the last word: only a closed breaker lets a
replacement through (an open one opens nothing; a half-open one is left to its probe), every
failed replacement counts against it, and tries are spaced by the SSH retry policy's
backoff and stop after its attempts; the upkeep tries again later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from ccr.core.errors import RemoteError
from ccr.reliability.board import BreakerBoard
from ccr.reliability.breaker import BreakerState
from ccr.reliability.retry import RetryPolicy

DEFAULT_BACKOFF = RetryPolicy("ssh", attempts=5, base_s=1.0, max_s=16.0)
"""`[reliability]` ssh_* defaults, for a pool built without the hub's policy."""


class ServerGate(Protocol):
    """Whether a server may get connections, and where their outcomes are counted."""

    def may_open(self, server_id: str) -> bool:
        """A caller may open a connection (the breaker is not open)."""

    def may_replace(self, server_id: str) -> bool:
        """A background replacement may open one (the breaker is closed)."""

    async def opened(self, server_id: str) -> None:
        """A replacement connected: the server answers."""

    async def failed(self, server_id: str, reason: str) -> None:
        """A replacement could not connect."""


class BreakerGate:
    """The server's circuit breaker as the pool's gate."""

    def __init__(self, board: BreakerBoard) -> None:
        self.board = board

    def may_open(self, server_id: str) -> bool:
        return self.board.get(server_id).state is not BreakerState.OPEN

    def may_replace(self, server_id: str) -> bool:
        return self.board.get(server_id).state is BreakerState.CLOSED

    async def opened(self, server_id: str) -> None:
        await self.board.success(server_id)

    async def failed(self, server_id: str, reason: str) -> None:
        await self.board.failure(server_id, reason)


OpenSpare = Callable[[str], Awaitable[bool]]
"""Open one connection for the server if it is below its minimum; False when not needed."""


class Replacer:
    """One background task per server that brings it back to its minimum after a loss."""

    def __init__(self, open_spare: OpenSpare, *, gate: ServerGate | None = None,
                 backoff: RetryPolicy = DEFAULT_BACKOFF,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.open_spare = open_spare
        self.gate = gate
        self.backoff = backoff
        self.sleep = sleep
        self.replaced: dict[str, int] = {}
        """Connections opened as replacements, per server."""
        self.failed: dict[str, int] = {}
        """Replacements that could not connect, per server."""
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def lost(self, server_id: str) -> None:
        """A connection of the server went away: replace it now (unless already at it)."""
        task = self._tasks.get(server_id)
        if task is not None and not task.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop: the upkeep refills
            self._tasks[server_id] = asyncio.get_running_loop().create_task(
                self._replace(server_id), name=f"ssh-pool-replace-{server_id}")

    def busy(self, server_id: str) -> bool:
        task = self._tasks.get(server_id)
        return task is not None and not task.done()

    async def _replace(self, server_id: str) -> None:
        failures = 0
        while self.gate is None or self.gate.may_replace(server_id):
            try:
                if not await self.open_spare(server_id):
                    return
            except RemoteError as exc:
                failures += 1
                self.failed[server_id] = self.failed.get(server_id, 0) + 1
                if self.gate is not None:
                    await self.gate.failed(server_id, exc.message)
                if failures >= self.backoff.attempts:
                    return  # the upkeep tries again at its next pass
                await self.sleep(self.backoff.delay(failures))
                continue
            failures = 0
            self.replaced[server_id] = self.replaced.get(server_id, 0) + 1
            if self.gate is not None:
                await self.gate.opened(server_id)

    async def close(self) -> None:
        """Stop every replacement in flight (the pool is closing)."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
