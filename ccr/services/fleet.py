"""The hub's side of `ccr servers`: serve a server added to (or taken out of) the config file
at once, without a restart, and know when each server's hook was last heard.

The config file stays the one source of truth: `sync(id)` re-reads the file the hub was
started from and serves that server exactly as the file now says (added, changed or gone).
So the API can never make the hub serve a target nobody wrote down, and a CLI that wrote to
another file than the hub reads is told so instead of being silently lost at the next start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ccr.core.config import LocalServer, SshServer, load_settings
from ccr.core.errors import CcrError
from ccr.store import hook_events
from ccr.store.db import Database

Server = LocalServer | SshServer
Action = Literal["added", "changed", "removed", "unchanged", "absent"]


@dataclass(frozen=True)
class Synced:
    server_id: str
    action: Action
    config: str


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return False


class Fleet:
    """Runtime changes to the set of servers, and each server's last hook time."""

    def __init__(self, db: Database, *, config_file: Path | None,
                 current: Callable[[str], Server | None],
                 add: Callable[[Server], Awaitable[None]],
                 remove: Callable[[str], Awaitable[None]],
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.config_file = config_file
        self.current = current
        self._add = add
        self._remove = remove
        self.clock = clock
        self.last_hook: dict[str, float] = {}
        """Per server: when its hook was last heard (a signed event for a known server)."""
        self._lock = asyncio.Lock()

    def heard(self, server_id: str, at: float | None = None) -> None:
        at = self.clock() if at is None else at
        if at > self.last_hook.get(server_id, 0.0):
            self.last_hook[server_id] = at

    async def load(self) -> None:
        """The last hook times kept in the store (once, after start)."""
        async with self.db.reading() as conn:
            for sid, at in (await hook_events.last_heard(conn)).items():
                self.heard(sid, at)

    async def test_event(self, event_id: str, server_id: str) -> bool:
        """A hook's test event: recorded, nobody told. False for a repeat of its id."""
        async with self.db.transaction() as conn:
            fresh = await hook_events.record_test(conn, event_id, server_id, self.clock())
        self.heard(server_id)
        return fresh

    async def sync(self, server_id: str, config: str | None = None) -> Synced:
        """Serve `server_id` as the hub's config file now says; `config` is the file the
        caller wrote to, refused when it is not the hub's."""
        path = self.config_file
        if path is None:
            raise CcrError("hub_without_config", server=server_id,
                           path=config or "~/.config/ccr/ccr.toml")
        if config and not _same_file(Path(config), path):
            raise CcrError("hub_config_elsewhere", hub_config=str(path), path=config,
                           server=server_id)
        async with self._lock:
            wanted = (await asyncio.to_thread(load_settings, path)).server(server_id)
            now = self.current(server_id)
            action: Action
            if wanted is None:
                action = "absent" if now is None else "removed"
                if now is not None:
                    await self._remove(server_id)
            elif now is None:
                await self._add(wanted)
                action = "added"
            elif now == wanted:
                action = "unchanged"
            else:
                await self._remove(server_id)
                await self._add(wanted)
                action = "changed"
        return Synced(server_id, action, str(path))
