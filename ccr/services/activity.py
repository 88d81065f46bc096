"""Claude's steps on the command it works on: kept per command, shown on its live message.

Tool events (PreToolUse, PostToolUse, PostToolUseFailure, SubagentStart/Stop) are matched
to the command running in their Claude session the way a Stop is (its turn's `prompt_id`,
else the newest command Claude received there) and recorded inside the ingest's
transaction, so a redelivered event (same event id) never counts twice. The live message
is then edited at most once per WINDOW_S: a step inside the window is shown by one trailing
edit when the window ends, so the last state always lands. State changes (received, done)
edit at once and start a new window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiosqlite

from ccr.core import activity as fmt
from ccr.core.events import EventBus, HubLog
from ccr.core.models import Command, CommandState, EventKind, HookEvent, Session
from ccr.core.redact import redact
from ccr.services import cards
from ccr.store import activity as rows
from ccr.store import commands as command_rows
from ccr.store.db import Database

WINDOW_S = 3.0
"""At most one activity edit of a message per this many seconds (Telegram allows about one
edit a second per chat; a burst of tool calls must not spend it)."""
STEP_KINDS = frozenset({EventKind.TOOL_START, EventKind.TOOL_DONE, EventKind.TOOL_FAILED,
                        EventKind.SUBAGENT_START, EventKind.SUBAGENT_STOP})


class Coalescer:
    """When each message may be edited next: one edit per `window` seconds, the rest
    folded into one trailing edit."""

    def __init__(self, window: float = WINDOW_S) -> None:
        self.window = window
        self._last: dict[str, float] = {}

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may be edited (0: now)."""
        last = self._last.get(key)
        return 0.0 if last is None else max(0.0, last + self.window - now)

    def mark(self, key: str, now: float) -> None:
        """`key` was edited at `now`."""
        self._last[key] = now

    def forget(self, key: str) -> None:
        self._last.pop(key, None)


async def command_for(conn: aiosqlite.Connection, event: HookEvent,
                      session: Session) -> Command | None:
    """The command a tool event belongs to: the one received as its turn (`prompt_id`), else
    the newest command Claude received in the session that still runs."""
    running = [c for c in await command_rows.running(conn, session.id, typing=True)
               if c.received_at is not None]
    if event.prompt_id:
        same = [c for c in running if c.prompt_id == event.prompt_id]
        if same:
            return same[-1]
        running = [c for c in running if not c.prompt_id]
    return running[-1] if running else None


class ActivityService:
    """Records Claude's steps and keeps the command's live message up to date with them."""

    def __init__(self, db: Database, bus: EventBus, *, clock: Callable[[], float],
                 rich: bool = True, window: float = WINDOW_S) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.rich = rich
        self.coalescer = Coalescer(window)
        self.on_outbox: Callable[[], None] = lambda: None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def record(self, conn: aiosqlite.Connection, event: HookEvent, session: Session,
                     now: float) -> str | None:
        """Keep one tool event as a step of its command (inside the ingest's transaction);
        the command's id when its message should show it."""
        command = await command_for(conn, event, session)
        if command is None:
            return None
        if event.kind in (EventKind.SUBAGENT_START, EventKind.SUBAGENT_STOP):
            tool, subject, call = fmt.SUBAGENT, event.agent_type or "", event.agent_id
        else:
            tool = event.tool_name or "tool"
            subject, call = fmt.subject(tool, event.tool_input), event.tool_use_id
        subject = redact(subject)
        if event.kind in (EventKind.TOOL_START, EventKind.SUBAGENT_START):
            await rows.started(conn, command.id, tool=tool, subject=subject, tool_use_id=call,
                               now=now)
            return command.id
        error = (redact(event.tool_error or "failed")
                 if event.kind is EventKind.TOOL_FAILED else None)
        changed = await rows.ended(conn, command.id, tool=tool, subject=subject,
                                   tool_use_id=call, error=error, now=now)
        return command.id if changed else None

    def shown(self, command_id: str, *, final: bool = False) -> None:
        """The message was just edited for another reason (a state change): a new window.
        A final state is the message's last edit: nothing is kept for it any more."""
        if final:
            self.coalescer.forget(command_id)
            timer = self._timers.pop(command_id, None)
            if timer is not None:
                timer.cancel()
        else:
            self.coalescer.mark(command_id, self.clock())

    def changed(self, command_id: str) -> None:
        """After the ingest committed: show the new step now, or once the window ends."""
        if not self.rich or command_id in self._timers:
            return  # the trailing edit already planned will show it
        wait = self.coalescer.wait(command_id, self.clock())
        loop = asyncio.get_running_loop()
        if wait <= 0:
            self.coalescer.mark(command_id, self.clock())
            self._spawn(command_id)
            return
        self._timers[command_id] = loop.call_later(wait, self._trailing, command_id)

    def _trailing(self, command_id: str) -> None:
        self._timers.pop(command_id, None)
        self.coalescer.mark(command_id, self.clock())
        self._spawn(command_id)

    def _spawn(self, command_id: str) -> None:
        task = asyncio.create_task(self._refresh(command_id), name="activity-edit")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, command_id: str) -> None:
        """Queue the running command's message with its steps (an edit; never a new one)."""
        try:
            now = self.clock()
            async with self.db.transaction() as conn:
                command = await command_rows.get(conn, command_id)
                if (command is None or command.state.final
                        or command.state is CommandState.PENDING):
                    self.coalescer.forget(command_id)
                    return
                shown = await cards.show(conn, command, now=now) is not None
            if shown:
                self.on_outbox()
        except Exception as exc:  # a step not shown must not break the hub
            self.bus.publish(HubLog("warning", f"activity edit of {command_id}: {exc!r}"))

    async def view(self, command_id: str) -> dict[str, object]:
        """The command's steps for a face (API, CLI): now, the last few, the summary."""
        async with self.db.reading() as conn:
            return await cards.activity(conn, command_id)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
