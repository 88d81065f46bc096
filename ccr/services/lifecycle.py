"""What happens to a command after it is typed: Claude receives it, works, answers.

Claude's UserPromptSubmit hook confirms the text arrived (the second tick); its Stop hook
completes the command with Claude's reply, its StopFailure hook (an API error: logged out,
rate limited...) fails it with Claude's words and what to do. A watcher gives long commands
one progress edit, reads the pane when no confirmation comes, and ends a command TIMEOUT when
no Stop comes.
Cancel withdraws a command not yet typed, or presses Ctrl-C (on purpose) once it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import aiosqlite

from ccr.core.command_settings import CommandSettings
from ccr.core.errors import CcrError, InputError, NotFoundError, stop_failure
from ccr.core.events import CommandChanged, EventBus, HubLog
from ccr.core.models import Command, CommandState, EventKind, HookEvent, Session
from ccr.remote.executor import Executor
from ccr.services import cards
from ccr.services.activity import STEP_KINDS, ActivityService
from ccr.services.sessions import SESSION_END_REASONS, SessionService, ends_session
from ccr.store import commands as rows
from ccr.store import outbox
from ccr.store.db import Database

QUIET_NOTIFY_S = 60.0
"""A Stop that completes a command this young, whose live message is still the latest word
about its session in that chat, only edits that message: no second message within a minute
of the first (the person is looking at it)."""
SCREEN_LINES = 12
SUPERSEDED = "Claude went on to a later prompt before answering this one."


@dataclass
class HookOutcome:
    """What a hook event did to commands: the changed ones, and chats that need no
    separate notification because a live message already shows the answer."""

    changed: list[Command] = field(default_factory=list)
    quiet_chats: set[int] = field(default_factory=set)
    stepped: set[str] = field(default_factory=set)
    """Commands with a new step of Claude's (their message shows it, coalesced)."""


class CommandLifecycle:
    """Moves typed commands on from hook events, time, and Cancel."""

    def __init__(self, db: Database, bus: EventBus, sessions: SessionService,
                 executor: Executor, settings: CommandSettings, *,
                 clock: Callable[[], float]) -> None:
        self.db = db
        self.bus = bus
        self.sessions = sessions
        self.executor = executor
        self.settings = settings
        self.clock = clock
        self.rich = settings.rich_messages
        self.on_outbox: Callable[[], None] = lambda: None
        self._screens: dict[str, str] = {}
        self._checked: set[str] = set()
        self.activity = ActivityService(db, bus, clock=clock, rich=self.rich)

    # --- from hook events (inside the ingest's transaction) -------------------------------

    async def on_hook(self, conn: aiosqlite.Connection, event: HookEvent, session: Session,
                      now: float) -> HookOutcome:
        out = HookOutcome()
        if event.kind in STEP_KINDS:
            stepped = await self.activity.record(conn, event, session, now)
            if stepped is not None:
                out.stepped.add(stepped)
        elif event.kind is EventKind.PROMPT and event.last_prompt:
            received = await rows.mark_received(
                conn, session.id, event.last_prompt, now,
                uncertain_since=now - self.settings.timeout_s, prompt_id=event.prompt_id)
            if received is not None:
                self._screens.pop(received.id, None)
                await self._show(conn, received, now)
                out.changed.append(received)
        elif event.kind in (EventKind.STOP, EventKind.STOP_FAILURE):
            ended = (self._complete(conn, event, session, now) if event.kind is EventKind.STOP
                     else self._fail(conn, event, session, now))
            for done in await ended:
                self._screens.pop(done.id, None)
                if await self._show(conn, done, now) and await self._watched(conn, done, now):
                    assert done.chat_id is not None
                    out.quiet_chats.add(done.chat_id)
                out.changed.append(done)
        elif ends_session(event):
            for done in await self._orphaned(conn, event, session, now):
                self._screens.pop(done.id, None)
                await self._show(conn, done, now)
                out.changed.append(done)
        return out

    @staticmethod
    async def _orphaned(conn: aiosqlite.Connection, event: HookEvent, session: Session,
                        now: float) -> list[Command]:
        """Claude Code ended in the session: the command it worked on gets no answer
        (FAILED), and those still waiting for the pane are withdrawn (CANCELLED), because
        what runs in that pane now is a shell, not Claude. One being typed is left to its
        timeout."""
        reason = event.reason or "other"
        why = SESSION_END_REASONS.get(reason, f"exited ({reason[:40]})")
        out = []
        waiting = (CommandState.PENDING, CommandState.EXECUTING)
        for command in await rows.of_session(conn, session.id, waiting):
            err = CcrError("claude_exited", handle=session.handle,
                           why=why).with_trace(command.trace_id)
            state = (CommandState.CANCELLED if command.state is CommandState.PENDING
                     else CommandState.FAILED)
            done = await rows.set_state(conn, command.id, state, now=now, error_code=err.code,
                                        error_text=err.explain(), detail="SessionEnd",
                                        expect=(command.state,))
            if done is not None:
                out.append(done)
        return out

    @staticmethod
    async def _watched(conn: aiosqlite.Connection, command: Command, now: float) -> bool:
        """Is the command's live message young and still the latest word about its session
        in its chat? Then its edit is enough; otherwise the answer comes as a new message."""
        if command.chat_id is None or command.card_outbox_id is None:
            return False
        if now - command.created_at >= QUIET_NOTIFY_S:
            return False
        return not await outbox.notified_since(conn, command.chat_id, command.session_id,
                                               command.card_outbox_id)

    async def _complete(self, conn: aiosqlite.Connection, event: HookEvent, session: Session,
                        now: float) -> list[Command]:
        """The commands a Stop ends. Claude answered one prompt: the command received as
        that turn (same `prompt_id`), else the one with that text, gets the reply; earlier
        ones Claude received were left for it (completed with a note, no reply). Without a
        known prompt, the received ones get the reply."""
        out = []
        for command, answers in await self._ended_by(conn, event, session):
            note = None if answers else SUPERSEDED
            done = await rows.set_state(
                conn, command.id, CommandState.COMPLETED, now=now,
                reply=(event.last_reply or "") if note is None else "",
                error_text=note, detail="superseded" if note else None,
                expect=(CommandState.DISPATCHING, CommandState.EXECUTING))
            if done is not None:
                out.append(done)
        return out

    async def _fail(self, conn: aiosqlite.Connection, event: HookEvent, session: Session,
                    now: float) -> list[Command]:
        """The commands a StopFailure ends: the turn's own command FAILED, with Claude's
        words as its reply and what the error kind means (ccr.core.errors.stop_failure);
        earlier ones Claude went past are completed with a note, as after a Stop."""
        out = []
        for command, mine in await self._ended_by(conn, event, session):
            if mine:
                err = stop_failure(event.error, server=session.server_id,
                                   handle=session.handle).with_trace(command.trace_id)
                done = await rows.set_state(
                    conn, command.id, CommandState.FAILED, now=now,
                    reply=event.last_reply or "", error_code=err.code,
                    error_text=err.explain(), detail=f"StopFailure: {err.context['kind']}",
                    expect=(CommandState.DISPATCHING, CommandState.EXECUTING))
            else:
                done = await rows.set_state(
                    conn, command.id, CommandState.COMPLETED, now=now, reply="",
                    error_text=SUPERSEDED, detail="superseded",
                    expect=(CommandState.DISPATCHING, CommandState.EXECUTING))
            if done is not None:
                out.append(done)
        return out

    @staticmethod
    async def _ended_by(conn: aiosqlite.Connection, event: HookEvent,
                        session: Session) -> list[tuple[Command, bool]]:
        """The running commands the end of a turn (Stop or StopFailure) settles, each with
        whether this turn was its own (True) or Claude went past it (False)."""
        running = await rows.running(conn, session.id, typing=True)
        pid = event.prompt_id

        def other_turn(c: Command) -> bool:
            """Received as a turn with another id: this Stop cannot be its answer."""
            return bool(pid and c.prompt_id and c.prompt_id != pid)

        answered = next((c for c in running if pid and c.prompt_id == pid), None)
        if answered is None:  # older clients (no prompt_id), or ids that were not recorded
            same = [c for c in running if c.is_prompt(event.last_prompt) and not other_turn(c)]
            # Claude answers in order: the oldest it received with that text (the same text
            # may be queued twice, e.g. an alias), else the oldest with it.
            answered = next((c for c in same if c.received_at is not None),
                            same[0] if same else None)
        out = []
        for command in running:
            if answered is not None and command.created_at > answered.created_at:
                continue  # typed after the prompt this Stop answers
            if command.received_at is None and command is not answered:
                continue  # not known to have reached Claude yet
            mine = command is answered or (answered is None and not other_turn(command))
            out.append((command, mine))
        return out

    def published(self, outcome: HookOutcome) -> None:
        """After the ingest committed: tell the hub's faces."""
        for command in outcome.changed:
            self.bus.publish(CommandChanged(command))
        if outcome.changed:
            self.on_outbox()
        for command_id in outcome.stepped:
            self.activity.changed(command_id)

    async def _show(self, conn: aiosqlite.Connection, command: Command, now: float) -> bool:
        if not self.rich:
            return False
        card = await cards.show(conn, command, now=now, screen=self._screens.get(command.id))
        if card is not None:
            self.activity.shown(command.id, final=command.state.final)
        return card is not None

    # --- over time ------------------------------------------------------------------------

    async def watch(self, every: float = 1.0) -> None:
        """Progress, confirmation and timeout checks, once a second."""
        while True:
            try:
                await self.tick()
            except Exception as exc:  # one bad row must not stop the watcher
                self.bus.publish(HubLog("error", f"command watcher: {exc!r}"))
            await asyncio.sleep(every)

    async def tick(self) -> None:
        now = self.clock()
        async with self.db.reading() as conn:
            running = await rows.running(conn)
        s = self.settings
        for command in running:
            typed = command.typed_at or command.created_at
            if now - typed >= s.timeout_s:
                err = CcrError("command_timeout", handle=command.handle,
                               minutes=f"{s.timeout_s / 60:g}").with_trace(command.trace_id)
                await self._move(command, CommandState.TIMEOUT, err)
            elif (command.received_at is None and command.id not in self._checked
                  and now - typed >= s.confirm_after_s):
                self._checked.add(command.id)
                await self._unconfirmed(command)
            elif now - command.created_at >= s.progress_after_s and (
                    command.progress_at is None
                    or now - command.progress_at >= s.progress_every_s):
                async with self.db.transaction() as conn:
                    await rows.set_progress(conn, command.id, now)
                    current = await rows.get(conn, command.id)
                    shown = current is not None and await self._show(conn, current, now)
                if shown:
                    self.on_outbox()
        live = {c.id for c in running}
        self._checked &= live
        for gone in set(self._screens) - live:
            self._screens.pop(gone, None)

    async def _unconfirmed(self, command: Command) -> None:
        """No word from Claude that the text arrived: show what the pane shows instead."""
        session = await self.sessions.get(command.session_id)
        if session is None:
            return
        try:
            screen = await self.executor.capture(session, SCREEN_LINES)
        except CcrError as exc:
            screen = f"(ccr could not read the pane: {exc.message})"
        self._screens[command.id] = screen or "(the pane is empty)"
        now = self.clock()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO command_events (command_id, state, at, detail) "
                "VALUES (?, 'unconfirmed', ?, NULL)", (command.id, now))
            current = await rows.get(conn, command.id)
            shown = (current is not None and current.received_at is None
                     and await self._show(conn, current, now))
        if shown:
            self.on_outbox()

    async def _move(self, command: Command, state: CommandState,
                    error: CcrError | None, *, expect: tuple[CommandState, ...] = (
                        CommandState.EXECUTING,)) -> Command | None:
        now = self.clock()
        async with self.db.transaction() as conn:
            moved = await rows.set_state(conn, command.id, state, now=now, expect=expect,
                                         error_code=error.code if error else None,
                                         error_text=error.explain() if error else None)
            shown = moved is not None and await self._show(conn, moved, now)
        if moved is not None:
            self.bus.publish(CommandChanged(moved))
        if shown:
            self.on_outbox()
        return moved

    # --- Cancel -----------------------------------------------------------------------------

    async def _own(self, command_id: str, chat_id: int | None) -> Command:
        async with self.db.reading() as conn:
            command = await rows.get(conn, command_id)
        if command is None:
            raise NotFoundError("command_not_found", command=command_id[:20],
                                days=f"{self.settings.history_days:g}")
        if chat_id is not None and command.chat_id != chat_id:
            raise InputError("button_invalid", why="it belongs to another chat")
        return command

    async def cancel(self, command_id: str, *, chat_id: int | None = None) -> Command:
        """Withdraw a command that was not typed yet. A typed one needs `interrupt`."""
        command = await self._own(command_id, chat_id)
        err = CcrError("command_cancelled", handle=command.handle)
        moved = await self._move(command, CommandState.CANCELLED, err,
                                 expect=(CommandState.PENDING,))
        if moved is None:
            async with self.db.reading() as conn:
                now_is = await rows.get(conn, command_id)
            state = now_is.state if now_is is not None else command.state
            raise InputError("command_not_cancellable", handle=command.handle,
                             state="being typed" if state is CommandState.DISPATCHING
                             else state.phase)
        return moved

    async def refused(self, session: Session, answer: str, at: float) -> None:
        """The person refused a tool (or pressed Escape) and Claude stopped its turn, which
        the real client reports with no Stop: the commands it worked on end here."""
        async with self.db.reading() as conn:
            running = [c for c in await rows.running(conn, session.id)
                       if c.received_at is not None and c.created_at <= at]
        for command in running:
            err = CcrError("command_refused", handle=session.handle,
                           answer=answer).with_trace(command.trace_id)
            await self._move(command, CommandState.CANCELLED, err)

    async def interrupt(self, command_id: str, *, chat_id: int | None = None) -> Command:
        """Press Ctrl-C in the pane of a command Claude is working on, then mark it so."""
        command = await self._own(command_id, chat_id)
        if command.state is not CommandState.EXECUTING:
            raise InputError("command_not_cancellable", handle=command.handle,
                             state=command.state.phase)
        session = await self.sessions.get(command.session_id)
        if session is None:
            raise NotFoundError("unknown_session", handle=command.handle)
        await self.executor.press(session, ["C-c"])
        err = CcrError("command_interrupted", handle=command.handle)
        moved = await self._move(command, CommandState.CANCELLED, err)
        return moved if moved is not None else await self._own(command_id, None)
