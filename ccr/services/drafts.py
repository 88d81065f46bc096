"""A bare `/cmd text` (no session named): kept as a draft until the person picks where it
goes, so nothing is typed into a session the person did not choose."""

from __future__ import annotations

from collections.abc import Callable

from ccr.core.errors import CcrError, NotFoundError
from ccr.core.models import Session
from ccr.services.sessions import SessionService
from ccr.store import commands as command_rows
from ccr.store import drafts as rows
from ccr.store.db import Database
from ccr.store.drafts import Draft

FRESH_S = 600.0
"""A draft not confirmed within 10 minutes is stale: its buttons do nothing."""


class DraftService:
    def __init__(self, db: Database, sessions: SessionService, *,
                 clock: Callable[[], float]) -> None:
        self.db = db
        self.sessions = sessions
        self.clock = clock

    async def keep(self, *, chat_id: int, text: str,
                   update_id: int | None) -> tuple[Draft, list[Session]] | None:
        """Record the draft and return the live sessions it could go to; None when this
        Telegram update was handled before (a redelivery)."""
        now = self.clock()
        live = await self.sessions.live()
        if not live:
            raise NotFoundError("no_live_session")
        async with self.db.transaction() as conn:
            if update_id is not None and await command_rows.seen_update(conn, update_id, now):
                return None
            await rows.purge(conn, now - 7 * 86400)
            draft = await rows.insert(conn, chat_id=chat_id, text=text, now=now)
        return draft, live

    async def take(self, draft_id: int, chat_id: int) -> Draft:
        """The draft, used up; a clear error when it was used, expired or is not this chat's."""
        now = self.clock()
        async with self.db.transaction() as conn:
            draft = await rows.take(conn, draft_id, chat_id, now, now - FRESH_S)
        if draft is None:
            raise CcrError("button_invalid",
                           why="the text was sent or dropped already, or is over 10 minutes old")
        return draft
