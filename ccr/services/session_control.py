"""Start, stop, clear, restart and interrupt Claude Code sessions, for every face.

/new, /stop, /clear, /restart and /esc on Telegram, `ccr new` and `ccr stop`, the console's
keys and POST/DELETE /api/sessions all call this one service. Everything that touches tmux
goes through the executor (breaker, trace, pane locks). A directory typed on a phone is only
ever an argument, never shell code; and nothing is pressed or typed into a pane before the
executor checked that it still lives and still belongs to the session's tmux session.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from ccr.core.config import LocalServer, SshServer
from ccr.core.errors import CcrError, InputError, NotFoundError, RemoteError
from ccr.core.events import Event, EventBus, SessionUpdated
from ccr.core.models import Session
from ccr.core.redact import redact
from ccr.remote.executor import Executor
from ccr.services import audit
from ccr.services.sessions import SessionService
from ccr.store import commands as command_rows
from ccr.store import sessions as rows
from ccr.store.db import Database
from ccr.telemetry.tracing import Tracing, fail

LINGER_S = 5.0
"""After /exit, the pane has this long to close before ccr closes it."""
ESC_SETTLE_S = 0.5
"""Between Escape and /exit: a key right after Escape would read as Alt+key."""
CLEAR_WAIT_S = 5.0
POLL_S = 0.25
LOOK_EVERY_S = 1.0
"""While waiting for a new session's first hook, look whether its window still lives."""
SCREEN_LINES = 15
RECENT_DIRS = 6
MAX_DIR_CHARS = 1024


@dataclass(frozen=True)
class Started:
    """What /new (or the start half of /restart) came to."""

    server_id: str
    directory: str
    """The absolute directory once resolved, else as given."""
    pane_id: str | None = None
    session: Session | None = None
    """The new session, named by its first hook; None when it did not report."""
    error: CcrError | None = None
    screen: str = ""
    """The window's last lines when Claude did not report (redacted)."""
    seconds: float = 0.0
    duplicate: bool = False
    """A redelivered Telegram update: nothing was done."""
    resumed: bool = False


@dataclass(frozen=True)
class Stopped:
    session: Session
    how: str
    """"exit" (Claude left on /exit), "killed" (its pane was closed) or "gone" (it was)."""


@dataclass(frozen=True)
class Cleared:
    session: Session
    how: str
    """"screen" (the pane shows a fresh conversation), "hook" (SessionStart came) or ""
    (not confirmed)."""
    screen: str = ""


def tail(screen: str, lines: int = SCREEN_LINES) -> str:
    """A screen's last lines for a message: runs of blank lines as one, redacted."""
    kept: list[str] = []
    for line in screen.rstrip().splitlines():
        if line.strip() or (kept and kept[-1]):
            kept.append(line.rstrip() if line.strip() else "")
    return redact("\n".join(kept[-lines:]).strip("\n"))


def nonempty(screen: str) -> list[str]:
    return [line.strip() for line in screen.splitlines() if line.strip()]


def looks_cleared(before: str, after: str, typed: str = "/clear") -> bool:
    """Did the screen go from a conversation to a fresh one? The typed text has left the
    input line, and the old lines are mostly gone or the screen got shorter (text that
    Claude took as a prompt would add lines, not remove them)."""
    now = nonempty(after)
    if now and now[-1].rstrip(" │|").endswith(typed):
        return False  # still waiting on the input line
    old = nonempty(before)[:-1]  # without the input line
    if not old:
        return True
    kept = sum(1 for line in old if line in now)
    return kept * 2 <= len(old) or len(now) < len(nonempty(before))


class SessionControl:
    """The verbs behind /new, /stop, /clear, /restart and /esc."""

    def __init__(self, db: Database, bus: EventBus, sessions: SessionService,
                 executor: Executor, *, clock: Callable[[], float],
                 start_timeout_s: float) -> None:
        self.db = db
        self.bus = bus
        self.sessions = sessions
        self.executor = executor
        self.clock = clock
        self.start_timeout_s = start_timeout_s
        self.tracing = Tracing.disabled()

    # --- looking things up --------------------------------------------------------------

    def server(self, server_id: str) -> LocalServer | SshServer:
        server = self.executor.servers.get(server_id.strip().lower())
        if server is None:
            raise NotFoundError("unknown_server", server=server_id[:40])
        return server

    def server_ids(self) -> list[str]:
        return list(self.executor.servers)

    async def recent_dirs(self, server_id: str,
                          limit: int = RECENT_DIRS) -> list[tuple[int, str]]:
        """Directories Claude ran in on a server, latest first: (a session id, the path)."""
        async with self.db.reading() as conn:
            return await rows.recent_projects(conn, server_id, limit)

    async def dir_of(self, session_id: int) -> tuple[str, str] | None:
        """(server, directory) a past or present session ran in, for a /new button."""
        session = await self.sessions.get(session_id)
        if session is None or not session.project:
            return None
        return session.server_id, session.project

    async def _target(self, ref: str, update_id: int | None, accepted: asyncio.Event | None,
                      *, need_dir: bool = False) -> Session | None:
        """The live session `ref` names, once this Telegram update is recorded (None: it was
        handled before). `accepted` is set either way, so a face may confirm the update."""
        try:
            session = await self.sessions.resolve(ref)
            audit.note(server=session.server_id, session=session.handle,
                       trace_id=self.tracing.trace_id())
            if need_dir and not session.project:
                raise InputError("session_dir_unknown", handle=session.handle,
                                 server=session.server_id)
            return session if await self._first_time(update_id) else None
        finally:
            if accepted is not None:
                accepted.set()

    async def _first_time(self, update_id: int | None) -> bool:
        """Record a Telegram update; False when it was handled before (a redelivery)."""
        if update_id is None:
            return True
        async with self.db.transaction() as conn:
            return not await command_rows.seen_update(conn, update_id, self.clock())

    # --- /new -----------------------------------------------------------------------------

    async def start(self, server_id: str, directory: str, *, resume: bool = False,
                    update_id: int | None = None,
                    accepted: asyncio.Event | None = None) -> Started:
        """Claude in a new window on the server, in `directory`; returns once its first hook
        named the session, it exited, or the start timeout passed. `accepted` is set once
        the window exists or nothing will be started."""
        try:
            with self.tracing.span("session.start", component="session", server=server_id,
                                   root=True) as span:
                audit.note(server=server_id, trace_id=self.tracing.trace_id())
                result = await self._start(server_id, directory, resume, update_id, accepted)
                audit.note(session=result.session.handle if result.session else None,
                           outcome=f"failed: {result.error.code}" if result.error else None)
                if result.error is not None:
                    fail(span, result.error)
                return result
        finally:
            if accepted is not None:
                accepted.set()

    async def _start(self, server_id: str, directory: str, resume: bool,
                     update_id: int | None, accepted: asyncio.Event | None) -> Started:
        directory = directory.strip() or "~"
        try:
            server = self.server(server_id)
            if len(directory) > MAX_DIR_CHARS or any(c in directory for c in "\x00\n\r"):
                raise InputError("dir_missing", dir=directory[:80], server=server.id)
        except CcrError as exc:
            return Started(server_id, directory, error=self._traced(exc))
        if not await self._first_time(update_id):
            return Started(server.id, directory, duplicate=True)
        began = time.monotonic()
        try:
            path = await self.executor.resolve_dir(server.id, directory)
            if path is None:
                raise InputError("dir_missing", dir=directory, server=server.id)
            command = server.claude_command + (" --continue" if resume else "")
            async with self.bus.subscribe() as queue:
                pane = await self.executor.new_window(server.id, path, command)
                if accepted is not None:
                    accepted.set()
                return await self._first_hook(queue, server, path, pane, command, resume,
                                              began)
        except CcrError as exc:
            return Started(server.id, directory, error=self._traced(exc), resumed=resume)

    async def _first_hook(self, queue: asyncio.Queue[Event], server: LocalServer | SshServer,
                          path: str, pane: str, command: str, resume: bool,
                          began: float) -> Started:
        """Wait for the pane's first hook; look at its window every second meanwhile."""
        sock = self.executor.socket_of(server.id)
        deadline = began + self.start_timeout_s
        look_at = time.monotonic() + LOOK_EVERY_S
        while (now := time.monotonic()) < deadline:
            event: Event | None = None
            with contextlib.suppress(TimeoutError):
                event = await asyncio.wait_for(queue.get(), max(0.01, min(deadline, look_at)
                                                                - now))
            if (isinstance(event, SessionUpdated) and event.session.server_id == server.id
                    and event.session.pane_id == pane):
                with contextlib.suppress(RemoteError):  # from now on /exit closes it
                    await self.executor.window_command(
                        server.id, pane, sock, ["set-option", "-w", "remain-on-exit", "off"])
                return Started(server.id, path, pane, session=event.session,
                               seconds=time.monotonic() - began, resumed=resume)
            if time.monotonic() >= look_at:
                look_at = time.monotonic() + LOOK_EVERY_S
                try:
                    state = await self.executor.pane_state(server.id, pane, sock)
                except RemoteError:
                    continue  # a hiccup: keep waiting for the hook
                if state is None or state.dead:
                    screen = await self._screen(server.id, pane, sock) if state else ""
                    if state is not None:
                        with contextlib.suppress(RemoteError):
                            await self.executor.window_command(server.id, pane, sock,
                                                               ["kill-pane"])
                    err = CcrError("claude_start_failed", server=server.id, dir=path,
                                   command=command)
                    return Started(server.id, path, pane, error=self._traced(err),
                                   screen=screen, seconds=time.monotonic() - began,
                                   resumed=resume)
        err = CcrError("claude_silent", server=server.id, dir=path,
                       seconds=f"{self.start_timeout_s:g}", tmux_session=server.tmux_session)
        return Started(server.id, path, pane, error=self._traced(err),
                       screen=await self._screen(server.id, pane, sock),
                       seconds=time.monotonic() - began, resumed=resume)

    async def _screen(self, server_id: str, pane: str, sock: list[str]) -> str:
        """The window's last lines, redacted; empty when it cannot be read."""
        try:
            out = await self.executor.window_command(  # -S: with the lines scrolled away
                server_id, pane, sock, ["capture-pane", "-p", "-J", "-S", "-100"])
        except RemoteError:
            return ""
        return tail(out)

    def _traced(self, exc: CcrError) -> CcrError:
        return exc.with_trace(self.tracing.trace_id())

    # --- /stop, /restart --------------------------------------------------------------------

    async def stop(self, ref: str, *, update_id: int | None = None,
                   accepted: asyncio.Event | None = None) -> Stopped | None:
        """End Claude in a session cleanly (Escape, /exit, its pane closed if it lingers)
        and take the session off the live ones; None for a redelivered update."""
        session = await self._target(ref, update_id, accepted)
        if session is None:
            return None
        with self.tracing.span("session.stop", component="session",
                               server=session.server_id, root=True):
            how = await self._end(session)
            return Stopped(await self.sessions.close(session, how), how)

    async def restart(self, ref: str, *, update_id: int | None = None,
                      accepted: asyncio.Event | None = None
                      ) -> tuple[Stopped, Started] | None:
        """Stop, then start again in the same directory with `--continue`."""
        session = await self._target(ref, update_id, accepted, need_dir=True)
        if session is None or session.project is None:
            return None
        with self.tracing.span("session.stop", component="session",
                               server=session.server_id, root=True):
            how = await self._end(session)
            stopped = Stopped(await self.sessions.close(session, how), how)
        started = await self.start(session.server_id, session.project, resume=True)
        return stopped, started

    async def _end(self, session: Session) -> str:
        """Escape, /exit, then close the pane if Claude is still there after LINGER_S."""
        if not session.pane_id:
            raise RemoteError("session_not_in_tmux", handle=session.handle)
        server = self.server(session.server_id)
        sock = self.executor.socket_of(server.id, session)
        state = await self.executor.pane_state(server.id, session.pane_id, sock)
        if state is None:
            return "gone"
        if state.dead:
            await self._close_pane(session, sock)
            return "exit"
        try:
            await self.executor.press(session, ["Escape"], verify=True)
            await asyncio.sleep(ESC_SETTLE_S)
            await self.executor.send_text(session, "/exit", verify=True)
        except RemoteError as exc:
            if exc.code == "pane_gone":
                return "gone"
            if exc.code not in ("input_waiting", "delivery_uncertain"):
                raise  # pane_not_session, an unreachable server: nothing may be closed
        ours = state.session_name == server.tmux_session
        deadline = time.monotonic() + LINGER_S
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            state = await self.executor.pane_state(server.id, session.pane_id, sock)
            if state is None:
                return "exit"
            if state.dead:
                await self._close_pane(session, sock)
                return "exit"
            if state.at_shell and not ours:
                return "exit"  # Claude left; the person's own shell stays
        await self._close_pane(session, sock)
        return "killed"

    async def _close_pane(self, session: Session, sock: list[str]) -> None:
        """kill-pane, once the pane is checked to be the session's still."""
        assert session.pane_id is not None
        state = await self.executor.pane_state(session.server_id, session.pane_id, sock)
        if state is None:
            return
        if session.tmux_session and state.session_name != session.tmux_session:
            raise RemoteError("pane_not_session", handle=session.handle,
                              server=session.server_id, pane=session.pane_id,
                              found=state.session_name, expected=session.tmux_session)
        try:
            await self.executor.window_command(session.server_id, session.pane_id, sock,
                                               ["kill-pane"])
        except RemoteError as exc:
            if exc.code != "pane_gone":
                raise

    # --- /clear, /esc -------------------------------------------------------------------------

    async def clear(self, ref: str, *, update_id: int | None = None,
                    accepted: asyncio.Event | None = None) -> Cleared | None:
        """Type /clear and confirm it took: a fresh screen, or Claude's SessionStart."""
        session = await self._target(ref, update_id, accepted)
        if session is None:
            return None
        with self.tracing.span("session.clear", component="session",
                               server=session.server_id, root=True):
            before = await self.executor.capture(session, lines=200)
            async with self.bus.subscribe() as queue:
                await self.executor.send_text(session, "/clear", verify=True)
                deadline = time.monotonic() + CLEAR_WAIT_S
                after = before
                while time.monotonic() < deadline:
                    with contextlib.suppress(TimeoutError):
                        event = await asyncio.wait_for(queue.get(), POLL_S)
                        if (isinstance(event, SessionUpdated) and event.kind == "session_start"
                                and event.session.id == session.id):
                            return Cleared(session, "hook")
                    with contextlib.suppress(RemoteError):
                        after = await self.executor.capture(session, lines=200)
                        if looks_cleared(before, after):
                            return Cleared(session, "screen")
            return Cleared(session, "", tail(after))

    async def esc(self, ref: str, *, update_id: int | None = None,
                  accepted: asyncio.Event | None = None) -> Session | None:
        """Press Escape in the session's pane: Claude stops what it is doing."""
        session = await self._target(ref, update_id, accepted)
        if session is None:
            return None
        with self.tracing.span("session.esc", component="session",
                               server=session.server_id, root=True):
            await self.executor.press(session, ["Escape"], verify=True)
        return session
