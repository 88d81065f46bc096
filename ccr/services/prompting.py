"""Claude's permission dialogs and questions as choices a person answers with one tap.

A waiting notification is queued (durable) but held back a moment; meanwhile the pane is
read, and a dialog found there (ccr.core.dialogs) is stored and put into the held message with
its real question and options. Nothing found, or no answer from the pane in time: the
plain notification goes out, and a crash in between sends it after the hold anyway.

Answering presses the option's number key (or Escape) in the pane, once, and only while
the very same dialog is still on the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from ccr.core.dialogs import Prompt, parse
from ccr.core.errors import CcrError, InputError, NotFoundError
from ccr.core.models import EventKind, HookEvent, Session
from ccr.core.redact import redact
from ccr.store import outbox
from ccr.store import prompts as rows
from ccr.store.db import Database

HOLD_S = 2.5
"""How long a waiting notification is held for the pane to be read."""
CAPTURE_TIMEOUT_S = 1.5
LOOKS_S = (0.0, 0.3, 0.6)
"""When to look at the pane (after the hook): a dialog may be drawn a moment late."""
TYPES = ("permission_prompt", "elicitation_dialog")
CONTEXT_LINES = 12
LINE_CHARS = 300
SENT_WINDOW_S = 3600.0
SCREEN_LINES = 60
REFUSAL_WAIT_S = 5.0
INTERRUPTED = "Interrupted · What should Claude do instead?"
"""What Claude Code shows when a refused tool or Escape ended its turn (2.1.197)."""


class Pane(Protocol):
    """What of the executor this needs."""

    async def capture(self, session: Session, lines: int = 40) -> str: ...

    async def press(self, session: Session, keys: list[str]) -> None: ...


@dataclass(frozen=True)
class Answered:
    """A choice typed into a pane: which prompt, the text shown for it, its messages."""

    prompt_id: int
    session: Session
    answer: str
    """"1. Yes", or "esc"."""
    messages: list[tuple[int, int, dict[str, Any]]]
    """(chat, message id, payload) of the notifications that offered this prompt."""
    unrecorded: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """(chat, payload) of those whose sending is not recorded yet (tapped at once)."""


def wants(event: HookEvent, session: Session) -> bool:
    """A notification that says Claude needs permission or input, from a pane ccr can read."""
    if event.kind is not EventKind.WAITING or not session.pane_id:
        return False
    if event.notification_type in TYPES:
        return True
    return not event.notification_type and "permission" in (event.message or "").lower()


def payload_of(prompt: Prompt, prompt_id: int) -> dict[str, Any]:
    """What a notification carries about a prompt (clipped; render escapes and redacts)."""
    return {
        "prompt_id": prompt_id,
        "prompt_kind": prompt.kind,
        "question": prompt.question[:LINE_CHARS],
        "title": prompt.title[:LINE_CHARS],
        "context": [line[:LINE_CHARS] for line in prompt.context[:CONTEXT_LINES]],
        "context_more": max(0, len(prompt.context) - CONTEXT_LINES),
        "options": [{"number": o.number, "label": o.label[:LINE_CHARS],
                     "detail": o.detail[:LINE_CHARS]} for o in prompt.options],
        "esc": prompt.esc,
    }


class PromptService:
    """Reads dialogs from panes for notifications, and types the answers people tap."""

    def __init__(self, db: Database, pane: Pane, *, clock: Callable[[], float],
                 spawn: Callable[[Coroutine[Any, Any, Any]], None], wake: Callable[[], None],
                 log: Callable[[str, str], None], session: Callable[[int], Awaitable[
                     Session | None]], enabled: Callable[[], bool] = lambda: True) -> None:
        self.db = db
        self.pane = pane
        self.clock = clock
        self.spawn = spawn
        self.wake = wake
        self.log = log
        self.session = session
        self.enabled = enabled
        self.on_refused: Callable[[Session, str, float], Awaitable[None]] | None = None

    # --- a notification comes in -----------------------------------------------------------

    def hold_for(self, event: HookEvent, session: Session) -> float:
        """Seconds to hold this event's notifications (0: send them as they are)."""
        return HOLD_S if self.enabled() and wants(event, session) else 0.0

    def on_waiting(self, session: Session, event: HookEvent, outbox_ids: list[int]) -> None:
        """Called once the held notifications are committed: read the pane in the background."""
        if outbox_ids:
            self.spawn(self.examine(session, outbox_ids))

    async def examine(self, session: Session, outbox_ids: list[int]) -> int | None:
        """Read the pane, store the dialog, put it into the held messages and release them.
        Returns the prompt id, or None when the plain notification went out."""
        extra: dict[str, Any] = {}
        prompt_id: int | None = None
        try:
            found = await self._look(session)
            if found is not None:
                prompt, screen = found
                now = self.clock()
                async with self.db.transaction() as conn:
                    prompt_id = await rows.insert(conn, session_id=session.id, prompt=prompt,
                                                  screen=screen, now=now)
                extra = payload_of(prompt, prompt_id)
        finally:
            # Always released (also when cancelled or failing): the plain message must go.
            changed = await outbox.update_payload_and_release(self.db, outbox_ids, extra,
                                                              self.clock())
            self.wake()
        if prompt_id is not None and not changed:
            self.log("warning", f"the question in {session.handle} was read too late: its "
                                "notification had gone out without buttons")
        return prompt_id

    async def _look(self, session: Session) -> tuple[Prompt, str] | None:
        started = self.clock()
        last_error = ""
        for at in LOOKS_S:
            wait = at - (self.clock() - started)
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                async with asyncio.timeout(CAPTURE_TIMEOUT_S):
                    screen = await self.pane.capture(session, SCREEN_LINES)
            except (CcrError, TimeoutError) as exc:
                last_error = exc.message if isinstance(exc, CcrError) else "timed out"
                continue
            prompt = parse(screen)
            if prompt is not None:
                return prompt, screen
        if last_error:
            self.log("warning", f"could not read the pane of {session.handle} for its "
                                f"question ({last_error}); sent the plain notification")
        else:
            self.log("info", f"no known dialog on the screen of {session.handle}; sent the "
                             "plain notification (docs/prompts.md lists the known ones)")
        return None

    # --- a person answers ---------------------------------------------------------------------

    async def answer(self, prompt_id: int, choice: int | None, *, by: str) -> Answered:
        """Press option `choice` (None: Escape) in the prompt's pane, once.

        Refused with a CcrError, and nothing typed, when the prompt is unknown, answered,
        superseded, its session gone, the choice not offered, or the screen shows something
        else now.
        """
        row = await rows.get(self.db, prompt_id)
        if row is None:
            raise InputError("button_invalid", why="ccr knows no such question")
        stored = parse(row.screen)
        session = await self.session(row.session_id)
        handle = session.handle if session is not None else "its session"
        if stored is None:
            raise CcrError("prompt_gone", handle=handle)
        if choice is None:
            if not stored.esc:
                raise InputError("button_invalid", why="this question cannot be dismissed")
            answer, keys = "esc", ["Escape"]
        else:
            option = stored.option(choice)
            if option is None:
                raise InputError("button_invalid", why=f"the question has no option {choice}")
            answer, keys = f"{option.number}. {option.label}", [str(option.number)]
        if row.answered_at is not None:
            raise CcrError("prompt_answered", handle=handle, answer=row.answer or "?")
        if session is None or session.expires_at <= self.clock():
            raise NotFoundError("unknown_session", handle=handle)
        if await rows.newest_id(self.db, session.id) != prompt_id:
            raise CcrError("prompt_gone", handle=handle)
        try:
            async with asyncio.timeout(CAPTURE_TIMEOUT_S * 2):
                screen = await self.pane.capture(session, SCREEN_LINES)
        except TimeoutError:
            raise CcrError("prompt_gone", handle=handle) from None
        if not stored.same(parse(screen)):
            raise CcrError("prompt_gone", handle=handle)
        if not await rows.claim(self.db, prompt_id, answer=answer, by=by, now=self.clock()):
            fresh = await rows.get(self.db, prompt_id)
            raise CcrError("prompt_answered", handle=handle,
                           answer=(fresh.answer if fresh else None) or "?")
        try:
            await self.pane.press(session, keys)
        except BaseException:
            with contextlib.suppress(Exception):
                await rows.unclaim(self.db, prompt_id, answer=answer, by=by)
            raise
        self.log("info", f"{by} answered the question in {session.handle}: "
                         f"{redact(answer)[:80]}")
        if self.on_refused is not None and refuses(stored, choice):
            self.spawn(self._after_refusal(session, answer, self.clock()))
        messages = await outbox.sent_since(self.db, session_id=session.id, kind="notification",
                                           since=row.created_at - 1,
                                           until=row.created_at + SENT_WINDOW_S)
        mine = [m for m in messages if m[2].get("prompt_id") == prompt_id]
        unsent = await outbox.pending_payloads(self.db, session_id=session.id,
                                               kind="notification")
        return Answered(prompt_id, session, answer, mine,
                        [(c, p) for c, p in unsent if p.get("prompt_id") == prompt_id])

    async def _after_refusal(self, session: Session, answer: str, at: float) -> None:
        """Claude Code ends a turn whose tool was refused with no Stop hook: once the pane
        shows it stopped, the command it worked on is ended here instead."""
        deadline = self.clock() + REFUSAL_WAIT_S
        while self.clock() < deadline:
            await asyncio.sleep(0.2)
            try:
                async with asyncio.timeout(CAPTURE_TIMEOUT_S):
                    screen = await self.pane.capture(session, SCREEN_LINES)
            except Exception:  # a pane that cannot be read proves nothing
                continue
            if INTERRUPTED in screen:
                assert self.on_refused is not None
                await self.on_refused(session, answer, at)
                return


def refuses(prompt: Prompt, choice: int | None) -> bool:
    """Does this answer stop Claude's turn? Escape, or "No" to a tool's permission."""
    if choice is None:
        return True
    option = prompt.option(choice)
    return (prompt.kind == "permission" and option is not None
            and option.label.split(",")[0].strip().lower() in ("no", "no (esc)"))
