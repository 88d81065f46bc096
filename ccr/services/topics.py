"""Topics: in a forum group (`[telegram] topics_chat`), each session gets a topic of its own.

The service decides what each session's topic should be (its name, open or closed), the
store records what Telegram has, and a `TopicApi` (the Telegram face) does the calls. A topic
is created when the session's first message is sent there, renamed when its name changes,
closed when the session expires or its pane is lost, reopened when it comes back.

Creating is made safe against a crash: the row is reserved before Telegram is asked and
completed after, all under one lock, so two topics are never used for one session. A hub
killed between the two leaves at worst one empty topic nobody uses, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from ccr.core.events import EventBus, SessionHealthChanged, SessionUpdated
from ccr.core.models import Session, SessionHealth
from ccr.services.sessions import SessionService
from ccr.store import topics as rows
from ccr.store.db import Database
from ccr.store.topics import Topic

NAME_LIMIT = 128
"""Telegram's limit for a topic's name, in characters."""
SWEEP_S = 60.0
"""How often every topic is checked against its session (expiry, missed events, retries)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class TopicApiError(Exception):
    """Telegram did not do it. `gone`: the topic no longer exists there."""

    def __init__(self, reason: str, *, gone: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.gone = gone


class TopicApi(Protocol):
    """What the service needs from Telegram; each raises TopicApiError on failure."""

    async def create(self, chat_id: int, name: str) -> int:
        """Create a topic; its message_thread_id."""
        ...

    async def rename(self, chat_id: int, thread_id: int, name: str) -> None: ...

    async def close(self, chat_id: int, thread_id: int) -> None: ...

    async def reopen(self, chat_id: int, thread_id: int) -> None: ...


def topic_name(session: Session) -> str:
    """`laptop:1 · myproject`, on one line, within Telegram's 128 characters."""
    label = session.project_name if session.project else (session.tmux_session or "")
    label = _CONTROL.sub(" ", label).strip()
    name = f"{session.handle} · {label}" if label else session.handle
    if len(name) > NAME_LIMIT:
        name = name[:NAME_LIMIT - 1].rstrip() + "…"
    return name


def wanted_state(session: Session, now: float) -> str:
    """Open while the session lives and its pane is there; closed once it expired or is lost."""
    if session.expires_at <= now or session.health is SessionHealth.LOST:
        return rows.CLOSED
    return rows.OPEN


class TopicService:
    """Keeps each session's topic in the topics chat in step with the session."""

    def __init__(self, db: Database, bus: EventBus, sessions: SessionService, *,
                 chat_id: int, clock: Callable[[], float],
                 log: Callable[[str, str], None], sweep_s: float = SWEEP_S) -> None:
        self.db = db
        self.bus = bus
        self.sessions = sessions
        self.chat_id = chat_id
        self.clock = clock
        self.log = log
        self.sweep_s = sweep_s
        self.api: TopicApi | None = None
        """Set by the Telegram face once the bot runs; without it nothing is created."""
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.chat_id != 0

    # --- for delivery and incoming messages ------------------------------------------------

    async def thread(self, session_id: int) -> int | None:
        """The session's topic thread, created now if it has none; None if that failed
        (the message then goes to the chat's General topic; the next one tries again)."""
        if not self.enabled or self.api is None:
            return None
        async with self._lock:
            async with self.db.reading() as conn:
                topic = await rows.get(conn, self.chat_id, session_id)
            if topic is not None and topic.usable:
                session = await self.sessions.get(session_id)
                if session is not None and topic.state == rows.CLOSED:
                    await self._apply(topic, session)  # came back: reopen before it speaks
                return topic.thread_id
            session = await self.sessions.get(session_id)
            if session is None:
                return None
            return await self._create(session, stale=topic)

    async def _create(self, session: Session, *, stale: Topic | None) -> int | None:
        assert self.api is not None
        name = topic_name(session)
        now = self.clock()
        if stale is not None:  # a reservation from a hub that stopped mid-way
            self.log("warning", f"the topic for {session.handle} may have been created "
                                "before the hub stopped without being recorded; creating it "
                                f"again (delete an empty topic named '{stale.name}' if there "
                                "is one)")
        else:
            async with self.db.transaction() as conn:
                if not await rows.reserve(conn, self.chat_id, session.id, name, now):
                    return None  # cannot happen under the lock; never make a second one
        try:
            thread_id = await self.api.create(self.chat_id, name)
        except TopicApiError as exc:
            async with self.db.transaction() as conn:
                await rows.release(conn, self.chat_id, session.id)
            self.log("warning", f"could not create a topic for {session.handle} in chat "
                                f"{self.chat_id} ({exc.reason}); its message goes to the "
                                "General topic and the next one tries again")
            return None
        async with self.db.transaction() as conn:
            await rows.created(conn, self.chat_id, session.id, thread_id, name)
        self.log("info", f"topic '{name}' created for {session.handle} (thread {thread_id})")
        if wanted_state(session, self.clock()) == rows.CLOSED:
            await self._apply(Topic(self.chat_id, session.id, thread_id, name, rows.OPEN, now),
                              session)
        return thread_id

    async def session_for(self, thread_id: int) -> tuple[Topic, Session] | None:
        """The topic with this thread id in the topics chat, and its session."""
        if not self.enabled:
            return None
        async with self.db.reading() as conn:
            return await rows.by_thread(conn, self.chat_id, thread_id)

    async def gone(self, session_id: int, thread_id: int) -> None:
        """Telegram says the topic does not exist (a person deleted it): forget it."""
        async with self._lock, self.db.transaction() as conn:
            await rows.forget(conn, self.chat_id, session_id, thread_id)
        self.log("warning", f"topic thread {thread_id} of session {session_id} is gone from "
                            "Telegram; the session's next message creates a new one")

    # --- keeping topics in step --------------------------------------------------------------

    async def follow(self, session: Session) -> None:
        """Bring the session's topic (if it has one) in line with the session now."""
        if not self.enabled or self.api is None:
            return
        async with self._lock:
            async with self.db.reading() as conn:
                topic = await rows.get(conn, self.chat_id, session.id)
            if topic is not None and topic.usable:
                await self._apply(topic, session)

    async def sweep(self) -> None:
        """Check every topic that may need a change (expired sessions are closed here)."""
        if not self.enabled or self.api is None:
            return
        async with self._lock:
            async with self.db.reading() as conn:
                pairs = await rows.to_check(conn, self.chat_id, self.clock())
            for topic, session in pairs:
                await self._apply(topic, session)

    async def _apply(self, topic: Topic, session: Session) -> None:
        """Rename, close or reopen as needed; what Telegram did is recorded, the rest is
        tried again at the next event or sweep."""
        assert self.api is not None
        name, state = topic_name(session), wanted_state(session, self.clock())
        try:
            if name != topic.name:
                await self.api.rename(self.chat_id, topic.thread_id, name)
                async with self.db.transaction() as conn:
                    await rows.set_name(conn, self.chat_id, session.id, name)
                self.log("info", f"topic of {session.handle} renamed to '{name}'")
            if state != topic.state:
                if state == rows.CLOSED:
                    await self.api.close(self.chat_id, topic.thread_id)
                else:
                    await self.api.reopen(self.chat_id, topic.thread_id)
                async with self.db.transaction() as conn:
                    await rows.set_state(conn, self.chat_id, session.id, state)
                self.log("info", f"topic of {session.handle} {state}")
        except TopicApiError as exc:
            if exc.gone:
                async with self.db.transaction() as conn:
                    await rows.forget(conn, self.chat_id, session.id, topic.thread_id)
            self.log("warning", f"could not update the topic of {session.handle} "
                                f"({exc.reason}); trying again later")

    async def run(self, subscribed: asyncio.Event | None = None) -> None:
        """Follow session events; sweep every `sweep_s` seconds."""
        async with self.bus.subscribe() as queue:
            if subscribed is not None:
                subscribed.set()
            await self._safely(self.sweep())
            deadline = self.clock() + self.sweep_s
            while True:
                event = None
                with contextlib.suppress(TimeoutError):
                    event = await asyncio.wait_for(queue.get(),
                                                   max(0.0, deadline - self.clock()))
                if isinstance(event, SessionUpdated | SessionHealthChanged):
                    await self._safely(self.follow(event.session))
                if self.clock() >= deadline:
                    await self._safely(self.sweep())
                    deadline = self.clock() + self.sweep_s

    async def _safely(self, step: Awaitable[None]) -> None:
        try:
            await step
        except Exception as exc:  # one bad round must not end the topics
            self.log("error", f"topics: {exc!r}")
