"""Reads the figures of the warning rules (`ccr.telemetry.warning_rules`) for the alert
service: running commands and when their Claude was last heard, the busy panes of servers
whose hooks went quiet (by looking at their screens), and secret files others may read."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from ccr.core.config import Settings
from ccr.core.errors import CcrError
from ccr.core.models import Session, SessionHealth
from ccr.services.secret_files import readable_secrets
from ccr.store import running as running_store
from ccr.store.db import Database
from ccr.telemetry.warning_rules import ExposedFile, SilentServer, StuckCommand

WORKING = re.compile(r"\b(esc|ctrl-c) to interrupt\b", re.IGNORECASE)
"""Claude Code's working line ("✻ Thinking… (12s · esc to interrupt)")."""
MAX_LOOKS_PER_SERVER = 4
"""Panes captured per quiet server and evaluation, at most."""


class Screens(Protocol):
    async def capture(self, session: Session, lines: int = 40) -> str: ...


class Warnings:
    """Keeps what each looked-at pane showed last, to tell a busy screen from a still one."""

    def __init__(self, db: Database, settings: Settings, *, clock: Callable[[], float],
                 screens: Screens, session: Callable[[int], Awaitable[Session | None]],
                 last_hook: Mapping[str, float]) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.screens = screens
        self.session = session
        self.last_hook = last_hook
        self.started_at = clock()
        self._seen: dict[int, str] = {}
        """session id -> digest of its screen at the previous look."""

    async def figures(self) -> tuple[tuple[StuckCommand, ...], tuple[SilentServer, ...]]:
        now = self.clock()
        rows = await running_store.running(self.db, now)
        stuck = tuple(StuckCommand(r.server_id, r.handle, now - r.since) for r in rows)
        cfg = self.settings.alerts
        silent: list[SilentServer] = []
        looked: set[int] = set()
        for sid in sorted({r.server_id for r in rows}):
            quiet = now - max(self.last_hook.get(sid, 0.0), self.started_at)
            if quiet < cfg.hooks_silent_after_min * 60:
                continue
            busy: list[str] = []
            live = [r for r in rows if r.server_id == sid and r.health == SessionHealth.OK.value]
            for r in live[:MAX_LOOKS_PER_SERVER]:
                looked.add(r.session_id)
                if await self._busy(r.session_id):
                    busy.append(r.handle)
            silent.append(SilentServer(sid, quiet, tuple(sorted(set(busy)))))
        for gone in set(self._seen) - looked:
            del self._seen[gone]
        return stuck, tuple(silent)

    async def _busy(self, session_id: int) -> bool:
        """Its screen shows Claude working, or changed since the previous look."""
        session = await self.session(session_id)
        if session is None or session.pane_id is None:
            return False
        try:
            screen = await self.screens.capture(session, lines=60)
        except (CcrError, OSError, TimeoutError):
            return False  # the pane is gone or the server unreachable: not busy as far as seen
        digest = hashlib.sha256(screen.encode()).hexdigest()
        before = self._seen.get(session_id)
        self._seen[session_id] = digest
        return bool(WORKING.search(screen)) or (before is not None and before != digest)

    async def exposed(self) -> tuple[ExposedFile, ...]:
        found = await asyncio.to_thread(readable_secrets, self.settings)
        return tuple(ExposedFile(str(f.path), f.mode, f.holds) for f in found)
