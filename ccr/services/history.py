"""Command history for every face: one filter language, search, one command's detail, purge.

The filter language (`/history`, `ccr history`, the console's filter box):
  laptop            a configured server's commands
  laptop:1          one session's commands
  state:failed      a state (is:failed too); several as state:failed,timeout; phases too:
                    running (not finished yet), executing, done (finished)
  anything else     words that must all occur in the command or in Claude's reply
Everything shown passes through `ccr.core.redact.redact`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccr.core.activity import summary_line
from ccr.core.errors import CcrError
from ccr.core.models import FINAL_STATES, Command, CommandState
from ccr.core.redact import redact
from ccr.store import activity as activity_rows
from ccr.store import history as store
from ccr.store import retention
from ccr.store.db import Database

if TYPE_CHECKING:
    from ccr.core.config import Settings

PHASES: dict[str, tuple[CommandState, ...]] = {
    "running": (CommandState.PENDING, CommandState.DISPATCHING, CommandState.EXECUTING),
    "executing": (CommandState.DISPATCHING, CommandState.EXECUTING),
    "done": tuple(s for s in CommandState if s in FINAL_STATES),
}
"""State words that stand for several states."""
STATE_KEYS = ("state", "is")
HANDLE = re.compile(r"^([A-Za-z0-9][\w.-]*):(\d{1,9})$")
MAX_WORDS = 12
MAX_WORD = 100
MAX_LIMIT = 200
PURGE_BATCH = 2000
"""Commands deleted per transaction, so a large purge never holds the writer long."""


def _states(value: str) -> tuple[CommandState, ...]:
    found: list[CommandState] = []
    for name in value.lower().split(","):
        if name in PHASES:
            found += PHASES[name]
        elif name in CommandState.__members__.values():
            found.append(CommandState(name))
        else:
            known = ", ".join([*(s.value for s in CommandState), *PHASES])
            raise CcrError("history_query_invalid",
                           detail=f"unknown state '{name[:40]}' (known: {known})")
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class HistoryQuery:
    """A parsed filter. `text` gives it back in the canonical form (`parse(text)` again)."""

    server: str | None = None
    number: int | None = None
    states: tuple[CommandState, ...] = ()
    words: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, servers: Collection[str] = ()) -> HistoryQuery:
        """Read the filter language; a bad filter raises CcrError history_query_invalid.

        A bare word is a server only when it is one of `servers` (the configured ids);
        `server:ID` and `session:ID:N` name them whatever the word.
        """
        server: str | None = None
        number: int | None = None
        states: list[CommandState] = []
        words: list[str] = []

        def place(sid: str, n: int | None) -> None:
            nonlocal server, number
            if server is not None and (server, number) != (sid, n):
                raise CcrError("history_query_invalid",
                               detail="name one server or one session, not several")
            server, number = sid, n

        for token in text.split():
            key, sep, value = token.partition(":")
            lowered = key.lower()
            if sep and value and lowered in STATE_KEYS:
                states += _states(value)
            elif sep and value and lowered == "server":
                place(value, None)
            elif sep and value and lowered == "session":
                m = HANDLE.match(value)
                if m is None:
                    raise CcrError("history_query_invalid",
                                   detail=f"'{value[:40]}' is not a session like laptop:1")
                place(m[1], int(m[2]))
            elif (m := HANDLE.match(token)) and m[1] in servers:
                place(m[1], int(m[2]))
            elif token in servers:
                place(token, None)
            else:
                if len(token) > MAX_WORD:
                    raise CcrError("history_query_invalid",
                                   detail=f"a word is longer than {MAX_WORD} characters")
                words.append(token)
        if len(words) > MAX_WORDS:
            raise CcrError("history_query_invalid", detail=f"at most {MAX_WORDS} words")
        return cls(server, number, tuple(dict.fromkeys(states)), tuple(words))

    @property
    def text(self) -> str:
        parts: list[str] = []
        if self.server is not None:
            parts.append(f"session:{self.server}:{self.number}" if self.number is not None
                         else f"server:{self.server}")
        if self.states:
            parts.append("state:" + ",".join(s.value for s in self.states))
        return " ".join([*parts, *self.words])

    @property
    def criteria(self) -> store.Criteria:
        return store.Criteria(self.server, self.number, self.states, self.words)


@dataclass(frozen=True)
class HistoryPage:
    """One page of matches, newest first; `total` counts all of them."""

    commands: tuple[Command, ...]
    total: int
    offset: int
    limit: int

    @property
    def has_older(self) -> bool:
        return self.offset + len(self.commands) < self.total

    @property
    def next_before(self) -> str | None:
        """The keyset cursor of the next (older) page: the last command's id."""
        return self.commands[-1].id if self.has_older and self.commands else None


@dataclass(frozen=True)
class HistoryDetail:
    command: Command
    transitions: tuple[tuple[str, float, str | None], ...]
    activity: str = ""
    """Claude's steps in one line ("12 steps: 5 Bash, 4 Edit, 3 Read"); '' when none."""


def masked(c: Command) -> Command:
    """The command as any face may show it: secrets in its text, reply, error masked."""
    return dataclasses.replace(
        c, text=redact(c.text), reply=redact(c.reply) if c.reply is not None else None,
        error_text=redact(c.error_text) if c.error_text is not None else None)


class HistoryService:
    """Searches and purges the commands table for the faces."""

    def __init__(self, db: Database, clock: Callable[[], float], settings: Settings,
                 log: Callable[[str, str], None] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.log = log

    def parse(self, text: str) -> HistoryQuery:
        return HistoryQuery.parse(text, [s.id for s in self.settings.servers])

    async def search(self, query: HistoryQuery | str = "", *, limit: int = 10,
                     offset: int = 0, before: str | None = None) -> HistoryPage:
        q = self.parse(query) if isinstance(query, str) else query
        limit = max(1, min(limit, MAX_LIMIT))
        offset = max(0, offset)
        async with self.db.reading() as conn:
            found = await store.search(conn, q.criteria, limit=limit, offset=offset,
                                       before=before)
            total = await store.total(conn, q.criteria)
            if before is not None and found:  # the page's place in the list: "11–20 of 57"
                older = await store.total(conn, q.criteria, before=found[-1].id)
                offset = max(0, total - len(found) - older)
        return HistoryPage(tuple(masked(c) for c in found), total, offset, limit)

    async def detail(self, command_id: str) -> HistoryDetail:
        async with self.db.reading() as conn:
            found = await store.detail(conn, command_id)
            summary = await activity_rows.summary(conn, command_id) if found else None
        if found is None:
            raise CcrError("command_not_found", command=command_id[:40],
                           days=f"{self.settings.commands.history_days:g}")
        command, steps = found
        return HistoryDetail(masked(command), tuple(
            (state, at, redact(why) if why else why) for state, at, why in steps),
            redact(summary_line(summary)))

    async def purge(self) -> int:
        """Delete finished commands older than [commands] history_days; how many."""
        older_than = self.clock() - self.settings.commands.history_days * 86400
        deleted = 0
        while True:
            async with self.db.transaction() as conn:
                n = await store.purge(conn, older_than, limit=PURGE_BATCH)
            deleted += n
            if n < PURGE_BATCH:
                async with self.db.transaction() as conn:
                    await retention.purge(conn, older_than)
                return deleted
            await asyncio.sleep(0)  # let other writers in between batches

    async def run(self) -> None:
        """The purge job: now, then every [commands] purge_interval_s."""
        while True:
            try:
                deleted = await self.purge()
            except Exception as exc:  # a failed purge is retried next time; nothing is lost
                self._say("warning", f"history purge failed: {exc!r}")
            else:
                if deleted:
                    days = self.settings.commands.history_days
                    self._say("info", f"history purge: deleted {deleted} command(s) older "
                                      f"than {days:g} days")
            await asyncio.sleep(self.settings.commands.purge_interval_s)

    def _say(self, level: str, text: str) -> None:
        if self.log is not None:
            self.log(level, text)


def view(c: Command) -> dict[str, object]:
    """A (masked) command as the API and `ccr history --json` show it."""
    return {
        "id": c.id, "session": c.handle, "text": c.text, "source": c.source,
        "state": c.state.value, "error_code": c.error_code, "error": c.error_text,
        "created_at": c.created_at, "typed_at": c.typed_at, "received_at": c.received_at,
        "finished_at": c.finished_at, "duration": c.duration, "reply": c.reply,
        "trace_id": c.trace_id, "alias": c.alias, "retry_of": c.retry_of,
    }


def detail_view(d: HistoryDetail) -> dict[str, object]:
    return {"command": view(d.command),
            "transitions": [{"state": s, "at": at, "detail": why}
                            for s, at, why in d.transitions],
            "activity": d.activity}
