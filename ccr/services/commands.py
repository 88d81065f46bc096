"""Command service: the one path from "type this into that session" to the pane.

Telegram's /cmd and replies, the console's send box, `ccr send` and the API all call
`submit`. The command row is written before any network attempt; a Telegram update id is
recorded in the same transaction, so a redelivered update is never typed twice. A failure
after keys may have reached tmux is recorded as uncertain and never retyped on its own.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

from ccr.core.errors import CcrError, InputError, NotFoundError, RemoteError
from ccr.core.events import CommandChanged, EventBus, HubLog
from ccr.core.models import Command, CommandState, Session
from ccr.remote.executor import Executor, clean_text
from ccr.services import audit, cards
from ccr.services.sessions import SessionService
from ccr.store import commands as rows
from ccr.store import outbox
from ccr.store import topics as topic_rows
from ccr.store.db import Database
from ccr.telemetry.tracing import Tracing, fail, traced

STALE_AFTER_S = 600.0


class Withdrawn(Exception):
    """The command was cancelled before its first key: abandon the typing."""


@dataclass(frozen=True)
class SubmitResult:
    """What became of a submission: the command, or why there is none."""

    command: Command | None
    error: CcrError | None = None
    duplicate: bool = False


class CommandService:
    """Accepts, records and dispatches commands."""

    def __init__(self, db: Database, bus: EventBus, sessions: SessionService,
                 executor: Executor, *, clock: Callable[[], float]) -> None:
        self.db = db
        self.bus = bus
        self.sessions = sessions
        self.executor = executor
        self.clock = clock
        self.on_outbox: Callable[[], None] = lambda: None
        self._tasks: set[asyncio.Task[SubmitResult]] = set()
        self.tracing = Tracing.disabled()
        self.rich = True
        """Live edited messages ([commands] rich_messages); False: one plain result message."""
        self.aliases: dict[str, str] = {}

    async def submit(self, *, text: str, ref: str | None = None, session_id: int | None = None,
                     source: str, chat_id: int | None = None, update_id: int | None = None,
                     reply_to: int | None = None, retry_of: str | None = None,
                     accepted: asyncio.Event | None = None,
                     thread_id: int | None = None) -> SubmitResult:
        """Accept a command and type it; returns once it was delivered or failed.

        `accepted` is set once the command (or its error) is safely recorded, so a caller
        may stop waiting there and let the typing go on in the background. `thread_id` is the
        forum topic it was typed in (ccr.store.topics); its answers go back there.

        Each submission is a trace of its own: its id is stored on the command row and
        quoted in any error about it.
        """
        with self.tracing.span("command", component="command", root=True,
                               attrs={"ccr.source": source[:20]}) as span:
            result = await self._submit(text=text, ref=ref, session_id=session_id,
                                        source=source, chat_id=chat_id, update_id=update_id,
                                        reply_to=reply_to, retry_of=retry_of,
                                        accepted=accepted, thread_id=thread_id)
            span.set_attribute("ccr.duplicate", result.duplicate)
            if result.command is not None:
                span.set_attribute("ccr.command", result.command.id)
                span.set_attribute("ccr.state", result.command.state.value)
            if result.error is not None:
                fail(span, result.error)
            return result

    async def _submit(self, *, text: str, ref: str | None, session_id: int | None,
                      source: str, chat_id: int | None, update_id: int | None,
                      reply_to: int | None, retry_of: str | None,
                      accepted: asyncio.Event | None,
                      thread_id: int | None = None) -> SubmitResult:
        now = self.clock()
        error: CcrError | None = None
        command: Command | None = None
        session: Session | None = None
        body = clean_text(text)
        alias = body.strip().lower() if body.strip().lower() in self.aliases else None
        if alias is not None:
            body = clean_text(self.aliases[alias])
        try:
            session = await self._target(ref, session_id, now)
            if not body.strip():
                raise InputError("text_empty")
        except CcrError as exc:
            error = exc.with_trace(self.tracing.trace_id())
        async with traced(self.db.transaction(), self.tracing, "command.pending",
                          component="command") as conn:
            if update_id is not None and await rows.seen_update(conn, update_id, now):
                return SubmitResult(command=None, duplicate=True)
            if session is not None and error is None:
                command = await rows.insert(conn, command_id=new_command_id(),
                                            session_id=session.id, text=body, source=source,
                                            chat_id=chat_id, reply_to=reply_to, now=now,
                                            trace_id=self.tracing.trace_id(), alias=alias,
                                            retry_of=retry_of)
                if thread_id is not None:
                    await topic_rows.set_command_thread(conn, command.id, thread_id)
                card = await cards.show(conn, command, now=now) if self.rich else None
                command = replace(command, card_outbox_id=card)
            elif error is not None and chat_id is not None:
                await outbox.enqueue(conn, chat_id=chat_id, kind="command_error",
                                     payload={"error": error.to_dict(), "ref": ref or ""},
                                     now=now, reply_to=reply_to, thread_id=thread_id)
        audit.note(server=session.server_id if session else None,
                   session=session.handle if session else None,
                   trace_id=command.trace_id if command else (error.trace_id if error else None),
                   outcome=f"accepted as {command.id}" if command
                   else f"failed: {error.code}" if error else None, what=body)
        if accepted is not None:
            accepted.set()
        if command is None or session is None:
            if chat_id is not None:
                self.on_outbox()
            return SubmitResult(command=None, error=error)
        if command.card_outbox_id is not None:
            self.on_outbox()
        self.bus.publish(CommandChanged(command))
        session = await self.sessions.used(session)
        return await self._dispatch(command, session)

    async def _target(self, ref: str | None, session_id: int | None, now: float) -> Session:
        if session_id is not None:
            found = await self.sessions.get(session_id)
            if found is None or found.expires_at <= now:
                handle = found.handle if found else str(session_id)
                raise NotFoundError("unknown_session", handle=handle)
            return found
        if not ref:
            raise InputError("text_empty")
        return await self.sessions.resolve(ref)

    async def _dispatch(self, command: Command, session: Session) -> SubmitResult:
        async def typing() -> None:
            # DISPATCHING only once the pane is ours: a command still waiting for it when
            # the hub dies never reached tmux, so it is typed after the restart, not doubted.
            nonlocal command
            async with traced(self.db.transaction(), self.tracing, "command.dispatching",
                              component="command", server=session.server_id) as conn:
                moved = await rows.set_state(conn, command.id, CommandState.DISPATCHING,
                                             now=self.clock(), expect=(CommandState.PENDING,))
                if moved is not None and self.rich:
                    await cards.show(conn, moved, now=self.clock())
            if moved is None:
                raise Withdrawn
            command = moved
            self.bus.publish(CommandChanged(command))

        error: CcrError | None = None
        try:
            await self.executor.send_text(session, command.text, before_typing=typing)
            state = CommandState.EXECUTING
        except Withdrawn:  # cancelled while it waited for the pane: nothing was typed
            async with self.db.reading() as conn:
                current = await rows.get(conn, command.id)
            return SubmitResult(command=current or command)
        except RemoteError as exc:
            error = exc
            state = CommandState.UNCERTAIN if exc.sent else CommandState.FAILED
        except CcrError as exc:
            error = exc
            state = CommandState.FAILED
        except Exception as exc:  # a bug must still leave a visible, final state
            error = CcrError("internal", detail=type(exc).__name__)
            state = CommandState.FAILED
            self.bus.publish(HubLog("error", f"command {command.id}: {exc!r}"))
        finished = await self._finish(command, state, error)
        if finished.state in (CommandState.EXECUTING, CommandState.COMPLETED):
            error = None  # Claude's own hooks showed the text arrived
        return SubmitResult(command=finished, error=error)

    async def _finish(self, command: Command, state: CommandState,
                      error: CcrError | None) -> Command:
        now = self.clock()
        if error is not None:
            error.with_trace(command.trace_id or self.tracing.trace_id())
        async with traced(self.db.transaction(), self.tracing, f"command.{state.value}",
                          component="command") as conn:
            if state is CommandState.UNCERTAIN:
                current = await rows.get(conn, command.id)
                if current is not None and current.received_at is not None:
                    # Claude's hook reported this very text meanwhile: it arrived.
                    state, error = CommandState.EXECUTING, None
            moved = await rows.set_state(
                conn, command.id, state, now=now,
                error_code=error.code if error else None,
                error_text=error.explain() if error else None,
                expect=(CommandState.PENDING, CommandState.DISPATCHING),
            )
            if moved is None:
                # Claude's own hooks moved it on while the typing finished (a fast Stop):
                # what they said stands.
                current = await rows.get(conn, command.id)
                return current or command
            command = moved
            if self.rich:
                await cards.show(conn, command, now=now)
            elif command.chat_id is not None:
                await outbox.enqueue(
                    conn, chat_id=command.chat_id, kind="command_result", now=now,
                    reply_to=await rows.reply_to(conn, command.id),
                    session_id=command.session_id, command_id=command.id,
                    thread_id=await topic_rows.command_thread(conn, command.id),
                    payload={"command_id": command.id, "handle": command.handle,
                             "state": state.value, "text": command.text[:200],
                             "error": error.to_dict() if error else None},
                )
        self.bus.publish(CommandChanged(command))
        if command.chat_id is not None:
            self.on_outbox()
        return command

    async def recover(self) -> None:
        """After a restart: type what was accepted but never started; flag what was cut off."""
        async with self.db.reading() as conn:
            stuck = await rows.in_states(conn, (CommandState.PENDING, CommandState.DISPATCHING))
        now = self.clock()
        for command in stuck:
            with self.tracing.in_trace(command.trace_id, "command.recover", component="command",
                                       attrs={"ccr.command": command.id}):
                await self._recover(command, now)

    async def _recover(self, command: Command, now: float) -> None:
        """One command after a restart, inside its own trace."""
        if command.state is CommandState.DISPATCHING:
            session = await self.sessions.get(command.session_id)
            if session is not None:
                self.executor.may_hold(session, command.text)
            err = RemoteError("delivery_uncertain", sent=True, handle=command.handle,
                              server=command.handle.split(":")[0], detail="hub restarted")
            await self._finish(command, CommandState.UNCERTAIN, err)
        elif now - command.created_at > STALE_AFTER_S:
            await self._finish(command, CommandState.FAILED,
                               CcrError("stale_command", handle=command.handle))
        else:
            session = await self.sessions.get(command.session_id)
            if session is None:
                return
            task = asyncio.create_task(self._dispatch(command, session))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def rerun(self, command_id: str, *, source: str, chat_id: int | None = None,
                    update_id: int | None = None, reply_to: int | None = None,
                    accepted: asyncio.Event | None = None) -> SubmitResult:
        """Send an earlier command's text again, to the same session, as a new command."""
        async with self.db.reading() as conn:
            old = await rows.get(conn, command_id)
        if old is None:
            err = NotFoundError("command_not_found", command=command_id[:20], days="30")
            if accepted is not None:
                accepted.set()
            return SubmitResult(command=None, error=err)
        return await self.submit(text=old.text, session_id=old.session_id, source=source,
                                 chat_id=chat_id, update_id=update_id, reply_to=reply_to,
                                 retry_of=old.id, accepted=accepted)

    async def get(self, command_id: str) -> Command | None:
        async with self.db.reading() as conn:
            return await rows.get(conn, command_id)

    async def recent(self, limit: int = 50) -> list[Command]:
        async with self.db.reading() as conn:
            return await rows.recent(conn, limit)


def new_command_id() -> str:
    return "c" + secrets.token_hex(5)
