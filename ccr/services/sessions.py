"""Session service: ingest hook events, keep the registry, resolve handles.

An event, its session upsert and the notifications it causes are written in ONE
transaction; a re-posted event (same id) has no second effect.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import aiosqlite

from ccr.core.errors import NotFoundError, stop_failure
from ccr.core.events import EventBus, SessionEnded, SessionHealthChanged, SessionUpdated
from ccr.core.models import EventKind, HookEvent, Session, SessionHealth
from ccr.services.cache import SessionCache
from ccr.store import claude_failures, outbox
from ccr.store import sessions as rows
from ccr.store.db import Database
from ccr.telemetry.alerts import CLAUDE_RULES
from ccr.telemetry.tracing import Tracing, traced

HANDLE = re.compile(r"^(?P<server>[a-z0-9][a-z0-9-]*):(?P<number>\d{1,9})$")
TOKEN = re.compile(r"^[a-z0-9]{8}$")
PREVIEW_CHARS = 3500
EXTEND_WITHIN_S = 3600.0


class TurnObserver(Protocol):
    """Sees each accepted hook event inside the ingest's transaction (ccr.services.lifecycle)."""

    async def on_hook(self, conn: aiosqlite.Connection, event: HookEvent, session: Session,
                      now: float) -> Any: ...

    def published(self, outcome: Any) -> None: ...


@dataclass(frozen=True)
class IngestResult:
    duplicate: bool
    session: Session | None
    notified: int
    trace_id: str | None = None


_BY_NAME = {
    "Stop": EventKind.STOP,
    "SubagentStop": EventKind.SUBAGENT_STOP,
    "UserPromptSubmit": EventKind.PROMPT,
    "StopFailure": EventKind.STOP_FAILURE,
    "SessionStart": EventKind.SESSION_START,
    "SessionEnd": EventKind.SESSION_END,
    "PermissionRequest": EventKind.PERMISSION,
    "PreToolUse": EventKind.TOOL_START,
    "PostToolUse": EventKind.TOOL_DONE,
    "PostToolUseFailure": EventKind.TOOL_FAILED,
    "SubagentStart": EventKind.SUBAGENT_START,
}
TOOL_KINDS = frozenset({EventKind.TOOL_START, EventKind.TOOL_DONE, EventKind.TOOL_FAILED,
                        EventKind.SUBAGENT_START})
"""Claude's steps: shown on the running command's live message (ccr.services.activity)."""
QUIET = frozenset({EventKind.PROMPT, EventKind.SESSION_START, EventKind.SESSION_END,
                   EventKind.PERMISSION, *TOOL_KINDS})
"""Kinds that tell the hub something without a notification of their own: a prompt arrived
(the command's message shows it), a session started or ended (/sessions shows it), a
permission dialog opened (its Notification, read from the pane, brings the buttons)."""
ANSWERS = frozenset({EventKind.STOP, EventKind.STOP_FAILURE})
"""Kinds still told when they arrive after their Claude ended: what it answered."""


def ends_session(event: HookEvent) -> bool:
    """A SessionEnd that ends the session (a /clear ends only the conversation: Claude Code
    goes on in the same pane)."""
    return event.kind is EventKind.SESSION_END and event.reason != "clear"


SESSION_END_REASONS = {"prompt_input_exit": "exited at its prompt", "logout": "logged out",
                       "clear": "cleared", "other": "exited"}
"""SessionEnd's `reason` in plain words (newer reasons read as "exited (reason)")."""


def classify(hook_event_name: str, notification_type: str | None, message: str | None) -> EventKind:
    """Stop / stop failure / subagent stop / prompt / session start or end / permission
    request / waiting (permission or idle) / other notification."""
    known = _BY_NAME.get(hook_event_name)
    if known is not None:
        return known
    waiting_types = ("permission_prompt", "idle_prompt", "elicitation_dialog")
    if notification_type in waiting_types:
        return EventKind.WAITING
    text = (message or "").lower()
    if "permission" in text or "waiting for your input" in text:
        return EventKind.WAITING
    return EventKind.NOTIFICATION


def summary(event: HookEvent) -> str:
    """One line for logs and the console."""
    if event.kind is EventKind.STOP:
        return "Claude finished"
    if event.kind is EventKind.SUBAGENT_STOP:
        return "a subagent finished"
    if event.kind is EventKind.PROMPT:
        return "Claude received a prompt"
    if event.kind is EventKind.STOP_FAILURE:
        return f"Claude stopped on an API error ({event.error or 'unknown'})"
    if event.kind is EventKind.SESSION_START:
        return f"Claude Code started ({event.source or 'startup'})"
    if event.kind is EventKind.SESSION_END:
        return f"Claude Code ended ({event.reason or 'other'})"
    if event.kind is EventKind.PERMISSION:
        return f"Claude asks to use {event.tool_name or 'a tool'}"
    if event.kind is EventKind.TOOL_START:
        return f"Claude uses {event.tool_name or 'a tool'}"
    if event.kind is EventKind.TOOL_DONE:
        return f"{event.tool_name or 'a tool'} ran"
    if event.kind is EventKind.TOOL_FAILED:
        return f"{event.tool_name or 'a tool'} failed"
    if event.kind is EventKind.SUBAGENT_START:
        return f"a subagent started ({event.agent_type or 'agent'})"
    return event.message or "Claude needs your attention"


class SessionService:
    """The registry of Claude Code sessions."""

    def __init__(self, db: Database, bus: EventBus, *, clock: Callable[[], float],
                 ttl_seconds: float, recipients: Callable[[], list[int]]) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.ttl = ttl_seconds
        self.recipients = recipients
        self.on_outbox: Callable[[], None] = lambda: None
        self.hold_for: Callable[[HookEvent, Session], float] = lambda event, session: 0.0
        """Seconds to hold an event's notifications back (ccr.services.prompting reads the pane)."""
        self.on_waiting: Callable[[Session, HookEvent, list[int]], None] = lambda *_: None
        """Told of held notifications once they are committed."""
        self.degraded: Callable[[], str | None] = lambda: None
        self.tracing = Tracing.disabled()
        self.turns: TurnObserver | None = None
        """Told of each accepted event inside its transaction (the command lifecycle)."""
        self.on_claude_state: Callable[[], None] = lambda: None
        """Told when a server's Claude Code was found logged out or refused for billing, or
        answered again after that (the admin alerts look at once)."""
        self.cache: SessionCache | None = None
        """Lookups by handle, token, message and id (ccr.services.cache); None: every one reads the
        database. Every write below drops what it changed from it."""

    def _forget(self, session_id: int) -> None:
        if self.cache is not None:
            self.cache.forget(session_id)

    async def ingest(self, event: HookEvent, *, traceparent: str | None = None,
                     received: float | None = None) -> IngestResult:
        """Take one hook event; its trace continues the hook's `traceparent`."""
        received = self.clock() if received is None else received
        parent = self.tracing.hook_span(traceparent, server=event.server_id,
                                        started=min(event.sent_at, received), received=received,
                                        attrs={"ccr.hook_event": event.hook_event_name[:40]})
        with self.tracing.span("ingest", component="ingest", server=event.server_id,
                               parent=parent, root=parent is None,
                               attrs={"ccr.kind": event.kind.value}) as span:
            result = await self._ingest(event)
            span.set_attribute("ccr.duplicate", result.duplicate)
            span.set_attribute("ccr.notified", result.notified)
            if result.session is not None:
                span.set_attribute("ccr.session", result.session.handle)
            return replace(result, trace_id=self.tracing.trace_id())

    async def _ingest(self, event: HookEvent) -> IngestResult:
        now = self.clock()
        key = rows.pane_key(event.pane_id, event.tmux_socket, event.claude_session_id)
        fields: dict[str, object] = {
            "pane_id": event.pane_id,
            "tmux_socket": event.tmux_socket,
            "tmux_session": event.tmux_session,
            "claude_session_id": event.claude_session_id,
            "project": event.cwd,
            "last_event": event.kind.value,
            "last_prompt": event.last_prompt,
            "last_reply": event.last_reply,
        }
        notified = 0
        held: list[int] = []
        claude_changed = False
        async with traced(self.db.transaction(), self.tracing, "session.upsert",
                          component="store", server=event.server_id) as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO hook_events (event_id, server_id, received_at) "
                "VALUES (?, ?, ?)", (event.event_id, event.server_id, now),
            )
            if cur.rowcount == 0:
                return IngestResult(duplicate=True, session=None, notified=0)
            ending = ends_session(event)
            current = await rows.find_live_by_pane(conn, event.server_id, key, now)
            if current is None and event.tmux_session:
                current = await rows.find_lost_in_tmux_session(
                    conn, event.server_id, event.tmux_socket, event.tmux_session, now)
            back = None
            late = False  # sent by a Claude before it ended here, delivered after its goodbye
            if current is None and not ending:  # Claude Code runs in an ended one's pane again
                back = await rows.find_ended_by_pane(conn, event.server_id, key, now - self.ttl)
                if back is not None:
                    late = back.sent_before_end(event.sent_at, event.claude_session_id)
                    if not late:
                        await rows.reopen(conn, back.id)
                    current = back
            if current is None and ending:
                return IngestResult(duplicate=False, session=None, notified=0)
            restored = current is not None and not late and (
                current.health is not SessionHealth.OK or back is not None)
            repeat_idle = (
                current is not None and event.notification_type == "idle_prompt"
                and current.last_event in (EventKind.STOP.value, EventKind.STOP_FAILURE.value)
            )
            if ending or late:  # a goodbye says nothing reliable of where Claude lived: its
                for gone in ("pane_id", "tmux_socket", "tmux_session"):  # pane may be another's
                    fields[gone] = None
            elif (current is not None and current.tmux_session
                  and event.kind is not EventKind.SESSION_START):
                # The hook looks the name up after Claude moved on; if the tmux server died
                # meanwhile, a new one may have handed the same pane id to another session.
                # Only Claude's own start says where it now lives; the executor's check that
                # a pane still sits in its session's tmux session relies on this.
                fields["tmux_session"] = None
            if current is None:
                session = await rows.insert(conn, server_id=event.server_id, key=key,
                                            fields=fields, now=now, expires_at=now + self.ttl)
            else:
                if repeat_idle:
                    fields["last_event"] = None  # keep "stop": the reminder adds nothing
                session = await rows.update(conn, current.id, fields, now,
                                            current.expires_at if late else now + self.ttl)
                if restored:  # its own hook proves the pane is alive, maybe a new one
                    session = await rows.set_health(conn, session.id, SessionHealth.OK,
                                                    pane_id=event.pane_id, key=key, now=now)
            if ending:  # it leaves the live sessions now, not at the next health check
                session = await rows.end(conn, session.id, now, event.sent_at)
            await conn.execute("UPDATE hook_events SET session_id = ? WHERE event_id = ?",
                               (session.id, event.event_id))
            claude_changed = await self._claude_state(conn, event, now)
            turn = (await self.turns.on_hook(conn, event, session, now)
                    if self.turns is not None else None)
            quiet: set[int] = set(turn.quiet_chats) if turn is not None else set()
            # a dead Claude's late question has nobody to answer it; its late answer is told
            if not repeat_idle and event.kind not in QUIET and (not late
                                                                 or event.kind in ANSWERS):
                payload = self.notification_payload(event, session, created=current is None)
                payload["restored"] = restored
                payload["degraded"] = self.degraded() or ""
                for chat in self.recipients():
                    if chat in quiet:
                        continue  # the command's live message shows this answer already
                    with self.tracing.span("outbox.enqueue", component="outbox",
                                           server=event.server_id,
                                           attrs={"ccr.kind": "notification"}):
                        held.append(await outbox.enqueue(
                            conn, chat_id=chat, kind="notification", payload=payload,
                            now=now, session_id=session.id))
                    notified += 1
                hold = self.hold_for(event, session)
                if hold > 0 and held:
                    await outbox.hold(conn, held, now + hold)
                else:
                    held = []
            elif restored and current is not None:  # no notification says it: tell it alone
                payload = health_payload(session, SessionHealth.OK,
                                         "Claude reported from its tmux pane again",
                                         current.lost_at or now)
                for chat in self.recipients():
                    await outbox.enqueue(conn, chat_id=chat, kind="session_health",
                                         payload=payload, now=now, session_id=session.id)
                    notified += 1
        self._forget(session.id)
        if turn is not None and self.turns is not None:
            self.turns.published(turn)
        self.bus.publish(SessionUpdated(session=session, created=current is None,
                                        kind=event.kind.value, summary=summary(event)))
        if restored:
            self.bus.publish(SessionHealthChanged(session, SessionHealth.OK,
                                                  "its hook reported again"))
        if notified:
            self.on_outbox()
        if claude_changed:
            self.on_claude_state()
        if held:
            self.on_waiting(session, event, held)
        return IngestResult(duplicate=False, session=session, notified=notified)

    @staticmethod
    async def _claude_state(conn: aiosqlite.Connection, event: HookEvent, now: float) -> bool:
        """A StopFailure that needs an admin (logged out, billing) is kept for its server
        until a Stop from there shows Claude answers again; True when that changed."""
        if event.kind is EventKind.STOP_FAILURE and event.error in CLAUDE_RULES:
            return await claude_failures.record(conn, event.server_id, event.error,
                                                event.last_reply or "", now)
        if event.kind is EventKind.STOP:
            return await claude_failures.clear(conn, event.server_id)
        return False

    @staticmethod
    def notification_payload(event: HookEvent, session: Session,
                             *, created: bool) -> dict[str, object]:
        reply = event.last_reply or ""
        failure: dict[str, object] = {}
        if event.kind is EventKind.STOP_FAILURE:
            failure = stop_failure(event.error, server=session.server_id,
                                   handle=session.handle).to_dict()
        return {
            "failure": failure,
            "event": event.kind.value,
            "handle": session.handle,
            "token": session.token,
            "server": session.server_id,
            "project": session.project or "",
            "tmux_session": session.tmux_session or "",
            "answerable": bool(session.pane_id),
            "message": event.message or "",
            "notification_type": event.notification_type or "",
            "prompt": (event.last_prompt or "")[:300],
            "reply": reply[:PREVIEW_CHARS],
            "reply_truncated": len(reply) > PREVIEW_CHARS,
            "reply_full": reply if len(reply) > PREVIEW_CHARS else "",
            "new_session": created,
        }

    async def resolve(self, ref: str) -> Session:
        """A session by handle (`kr4:1`) or token; a clear error when there is none."""
        ref = ref.strip().lower()
        now = self.clock()
        m = HANDLE.match(ref)
        if m:
            key = SessionCache.handle_key(m["server"], int(m["number"]))
        elif TOKEN.match(ref):
            key = SessionCache.token_key(ref)
        else:
            raise await self._not_found(ref)
        cache = self.cache
        found = cache.by_key(key, live_at=now) if cache is not None else None
        if found is None:
            generation = cache.generation if cache is not None else 0
            async with self.db.reading() as conn:
                if m:
                    found = await rows.by_handle(conn, m["server"], int(m["number"]), now)
                else:
                    found = await rows.by_token(conn, ref, now)
            if found is not None and cache is not None:
                cache.put(found, generation=generation)
        if found is None:
            raise await self._not_found(ref)
        return found

    async def _not_found(self, ref: str) -> NotFoundError:
        """No such session: name the closest live handles when some look meant."""
        handles = [s.handle for s in await self.live()]
        near = difflib.get_close_matches(ref, handles, n=3, cutoff=0.5)
        server = ref.split(":", 1)[0]
        near += [h for h in handles if h.split(":", 1)[0] == server and h not in near][:3]
        if not near:
            return NotFoundError("unknown_session", handle=ref)
        return NotFoundError("unknown_session_near", handle=ref,
                             suggestions=" or ".join(near[:3]))

    async def for_message(self, chat_id: int, message_id: int) -> Session | None:
        """The session a Telegram message (a notification we sent) was about."""
        cache = self.cache
        if cache is None:
            async with self.db.reading() as conn:
                return await rows.by_message(conn, chat_id, message_id)
        key = SessionCache.message_key(chat_id, message_id)
        found = cache.by_key(key)
        if found is None:
            generation = cache.generation
            async with self.db.reading() as conn:
                found = await rows.by_message(conn, chat_id, message_id)
            if found is not None:
                cache.put(found, key, generation=generation)
        return found

    async def live(self) -> list[Session]:
        async with self.db.reading() as conn:
            return await rows.live(conn, self.clock())

    async def get(self, session_id: int) -> Session | None:
        cache = self.cache
        found = cache.by_id(session_id) if cache is not None else None
        if found is None:
            generation = cache.generation if cache is not None else 0
            async with self.db.reading() as conn:
                found = await rows.by_id(conn, session_id)
            if found is not None and cache is not None:
                cache.put(found, generation=generation)
        return found

    async def set_health(self, session: Session, health: SessionHealth, reason: str) -> Session:
        """Record what a health check found and tell the user, once per change."""
        now = self.clock()
        key = (rows.pane_key(session.pane_id, session.tmux_socket, session.claude_session_id)
               if health is SessionHealth.OK else None)
        async with self.db.transaction() as conn:
            current = await rows.by_id(conn, session.id)
            if current is None or (current.health is health
                                   and current.pane_id == session.pane_id):
                return current or session
            updated = await rows.set_health(conn, session.id, health, pane_id=session.pane_id,
                                            key=key, now=now)
            payload = health_payload(updated, health, reason, current.lost_at or now)
            chats = self.recipients()
            for chat in chats:
                await outbox.enqueue(conn, chat_id=chat, kind="session_health", payload=payload,
                                     now=now, session_id=updated.id)
        self._forget(updated.id)
        self.bus.publish(SessionHealthChanged(updated, health, reason))
        if chats:
            self.on_outbox()
        return updated

    async def close(self, session: Session, how: str) -> Session:
        """Claude was ended from ccr: the session leaves the live ones now (its row, handle
        and history stay; handles are never reused)."""
        async with self.db.transaction() as conn:
            closed = await rows.close(conn, session.id, self.clock())
        self._forget(closed.id)
        self.bus.publish(SessionEnded(closed, how))
        return closed

    async def used(self, session: Session) -> Session:
        """A command went to the session: one used within an hour of expiry gets 24 h more."""
        now = self.clock()
        if session.expires_at - now > EXTEND_WITHIN_S:
            return session
        async with self.db.transaction() as conn:
            updated = await rows.extend(conn, session.id, now + self.ttl, now)
            payload = {"handle": updated.handle, "server": updated.server_id,
                       "project": updated.project or "", "expires_at": updated.expires_at,
                       "hours": round(self.ttl / 3600)}
            chats = self.recipients()
            for chat in chats:
                await outbox.enqueue(conn, chat_id=chat, kind="session_extended",
                                     payload=payload, now=now, session_id=updated.id)
        self._forget(updated.id)
        if chats:
            self.on_outbox()
        return updated


def health_payload(session: Session, health: SessionHealth, reason: str,
                   since: float) -> dict[str, object]:
    """What a `session_health` message says: the session, its new health, why, since when."""
    return {"handle": session.handle, "server": session.server_id,
            "project": session.project or "", "health": health.value, "reason": reason,
            "since": since}
