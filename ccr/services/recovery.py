"""Session recovery: notice lost panes and unreachable servers, restore sessions that return.

Every `interval` seconds each live session's pane is checked with ONE tmux call per server and
socket (`list-panes -a`). A pane that is gone marks its session lost; an unreachable server
marks its sessions unreachable; either is told to the user once. An unreachable session whose
pane answers again is restored and told once more. A lost one is restored only by its own hook
(Claude starting again in that tmux session): a pane that merely reappears, or a new one in the
recreated tmux session, holds a shell until Claude reads input there, and what a person sends
meanwhile must not be typed into it. Unreachable servers are re-checked with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ccr.core.errors import RemoteError
from ccr.core.models import Session, SessionHealth
from ccr.services.sessions import SessionService

PaneLister = Callable[[str, list[str]], Awaitable[dict[str, str]]]
"""(server id, tmux socket args) -> {pane id: tmux session name}; RemoteError if unreachable."""
TargetOf = Callable[[Session], list[str] | None]
"""The tmux socket args for a session, or None when its server is no longer configured."""

MAX_BACKOFF_FACTOR = 8


@dataclass(frozen=True)
class Change:
    """A session whose health changed in one check."""

    session: Session
    health: SessionHealth
    reason: str


class SessionRecovery:
    """The health poller. `check()` is one round; `run()` repeats it forever."""

    def __init__(self, sessions: SessionService, list_panes: PaneLister, target_of: TargetOf,
                 *, interval: float, clock: Callable[[], float]) -> None:
        self.sessions = sessions
        self.list_panes = list_panes
        self.target_of = target_of
        self.interval = interval
        self.clock = clock
        self._failures: dict[str, int] = {}
        self._next_try: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._nudged: asyncio.Task[None] | None = None

    def forget(self, server_id: str) -> None:
        """A server joined or left the configuration: no backoff carried over for it."""
        self._failures.pop(server_id, None)
        self._next_try.pop(server_id, None)

    def nudge(self) -> None:
        """Check now, not at the next poll: a tmux control channel saw a window, a session
        or the tmux server go away. A burst of notices makes one check."""
        if self._nudged is None or self._nudged.done():
            self._nudged = asyncio.get_running_loop().create_task(self._soon())

    async def _soon(self) -> None:
        await asyncio.sleep(0.05)  # let the rest of the burst arrive
        with contextlib.suppress(Exception):
            await self.check()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # one bad round must not end recovery
                await self.check()
            await asyncio.sleep(self.interval)

    async def check(self) -> list[Change]:
        """Check every live session once; apply and return the changes."""
        async with self._lock:  # a nudge and the poll never judge the same change twice
            return await self._check()

    async def _check(self) -> list[Change]:
        groups: dict[tuple[str, tuple[str, ...]], list[Session]] = {}
        for s in await self.sessions.live():
            target = self.target_of(s)
            if target is None or not s.pane_id:
                continue
            groups.setdefault((s.server_id, tuple(target)), []).append(s)
        now = self.clock()
        due = [(key, group) for key, group in groups.items()
               if self._next_try.get(key[0], 0.0) <= now]
        results = await asyncio.gather(*(self._check_group(server, list(sock), group)
                                         for (server, sock), group in due))
        changes = [c for group_changes in results for c in group_changes]
        for change in changes:
            await self.sessions.set_health(change.session, change.health, change.reason)
        return changes

    async def _check_group(self, server_id: str, sock: list[str],
                           group: list[Session]) -> list[Change]:
        try:
            panes = await self.list_panes(server_id, sock)
        except RemoteError as exc:
            if exc.code != "pane_gone":  # "no server running": the tmux server itself is gone
                self._backoff(server_id)
                why = f"{server_id} is unreachable: {exc.context.get('detail') or exc.code}"
                return [Change(s, SessionHealth.UNREACHABLE, why)
                        for s in group if s.health is not SessionHealth.UNREACHABLE]
            panes = {}
        self._failures.pop(server_id, None)
        self._next_try.pop(server_id, None)
        return [c for s in group if (c := self._judge(s, panes)) is not None]

    def _judge(self, s: Session, panes: dict[str, str]) -> Change | None:
        if s.health is SessionHealth.LOST:
            return None  # only Claude's own hook brings a lost session back
        if s.pane_id in panes:
            if s.health is SessionHealth.OK:
                return None
            return Change(s, SessionHealth.OK, "its tmux pane answers again")
        return Change(s, SessionHealth.LOST, f"its tmux pane {s.pane_id} is gone")

    def _backoff(self, server_id: str) -> None:
        n = self._failures.get(server_id, 0) + 1
        self._failures[server_id] = n
        factor = min(2 ** (n - 1), MAX_BACKOFF_FACTOR)
        self._next_try[server_id] = self.clock() + self.interval * factor - self.interval
