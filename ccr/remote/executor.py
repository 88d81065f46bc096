"""Types a person's text into a session's own tmux pane, literally, then submits it.

Single-line text goes in as `send-keys -H` with its UTF-8 bytes in hex, so tmux never
reads it as key names or command syntax (an argument ending in `;` would otherwise end the
tmux command). Multi-line text is loaded into a buffer through stdin and pasted as a
bracketed paste. The Enter is a separate key after a settle time, because Claude Code
treats an Enter inside a burst of input as part of a paste. One lock per pane holds it
from the first key to the Enter, so concurrent dispatches never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ccr.core.config import ExecutorSettings, LocalServer, PoolSettings, SshServer
from ccr.core.errors import InputError, RemoteError
from ccr.core.models import Session
from ccr.reliability.board import BreakerBoard
from ccr.reliability.retry import LogSink, RetryPolicy, never_reached
from ccr.remote.control import ControlTransport, Stream, open_local
from ccr.remote.echo import echoed_and_quiet, start_watch, stop_watch
from ccr.remote.leftovers import Leftovers, Pane
from ccr.remote.local import LocalTransport
from ccr.remote.pool import SshPool
from ccr.remote.screen import PaneScreen, last_lines, parse_screen, screen_args, tail_args
from ccr.remote.ssh import SshTransport
from ccr.remote.transport import ProgramOutput, Transport
from ccr.remote.windows import (
    PANE_FORMAT,
    PaneState,
    new_session_args,
    new_window_args,
    pane_id_of,
    pane_state,
    resolve_argv,
    resolved,
    server_socket,
)
from ccr.telemetry.tracing import Tracing

SERVER_FAULTS = frozenset({"ssh_unreachable", "ssh_auth_failed", "ssh_host_key_unknown",
                           "ssh_host_key_changed", "delivery_uncertain"})
"""Codes that say the server itself failed; tmux answering "no such pane" is not one."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BORDER = " \t│┃|"


WINDOW_ATTEMPTS = 4
"""Rounds of new-window / new-session while tmux says neither could run yet."""
ENTER_LOOKS = 4
"""Looks the Enter check takes while the pane shows no change at all."""
NAMED_KEYS = frozenset({"C-c", "Escape", "Enter", "Up", "Down", "Tab", "BTab"})
"""Keys ccr presses by name, each on purpose (an interrupt, a menu choice)."""


def clean_text(text: str) -> str:
    """Normalise line ends and drop control characters that a phone keyboard never means."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip("\n")


def keyboard_form(text: str) -> str:
    """What is typed for `text`. Claude Code takes a backslash right before the Enter for
    "new line" (it drops the backslash and does not submit), so a text ending in one gets a
    space after it; Claude trims trailing spaces from the prompt it submits."""
    return text + " " if text.endswith("\\") else text


def hex_keys(text: str) -> list[str]:
    """The text's UTF-8 bytes as `send-keys -H` arguments."""
    return [f"{b:02x}" for b in text.encode("utf-8")]


def still_on_input_line(input_lines: list[str], text: str) -> bool:
    """True when the typed text's end still sits on the cursor's line or the one above it.

    A swallowed Enter either does nothing or becomes a newline in the input box, leaving
    the cursor on an empty line below the text; both mean the prompt was not submitted.
    """
    last = text.rsplit("\n", 1)[-1].strip()
    if not last:
        return False
    tail = last[-8:]
    return any(line.rstrip(_BORDER).rstrip("⏎").endswith(tail) for line in input_lines)


@dataclass(frozen=True)
class Delivery:
    """What happened when typing: how many Enters it took, and how long."""

    enters: int
    seconds: float


def tmux_target(server: LocalServer | SshServer, session: Session) -> list[str]:
    """Socket options: the socket the hook reported, else the configured -L name."""
    if session.tmux_socket:
        return ["-S", session.tmux_socket]
    if server.tmux_socket:
        return ["-L", server.tmux_socket]
    return []


def tmux_subcommand(args: list[str]) -> str:
    """The tmux command an argv runs (`send-keys`), past the socket options."""
    i = 0
    while i < len(args) and args[i] in ("-L", "-S"):
        i += 2
    return args[i][:30] if i < len(args) else "?"


def server_fault(exc: RemoteError) -> bool:
    """Does this failure count against the server's breaker? Anything possibly sent does."""
    return exc.sent or exc.code in SERVER_FAULTS


class Executor:
    """Owns one transport per server and one lock per pane; retries and breakers wrap calls.

    `retry` retries only failures that provably never reached tmux; `breakers` refuses a
    server whose breaker is open before any connection is attempted.
    """

    def __init__(self, servers: list[LocalServer | SshServer],
                 settings: ExecutorSettings, *, retry: RetryPolicy | None = None,
                 breakers: BreakerBoard | None = None, log: LogSink | None = None,
                 pool: SshPool | None = None) -> None:
        self.settings = settings
        self.pool = pool or SshPool(PoolSettings(), connect_timeout=settings.connect_timeout_s)
        """SSH connections for every SSH server (exec channels and control channels)."""
        self.on_panes_changed: Callable[[str], None] | None = None
        """Called with a server id when its control channel says a window, session or the
        tmux server went away: session recovery should look now."""
        self.submits = {"adaptive": 0, "early": 0}
        """Adaptive submits, and how many of their Enters came too early (the check re-sent)."""
        self.retry = retry
        self.breakers = breakers
        self.log = log
        self.servers = {s.id: s for s in servers}
        self.tracing = Tracing.disabled()
        self.observe: Callable[[str, str | None, float], None] | None = None
        """Metrics hook: (server, error code or None, seconds) after each tmux call."""
        self._transports: dict[str, Transport] = {}
        self._exec: dict[str, LocalTransport | SshTransport] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.leftovers = Leftovers()
        """Per pane, the text of an uncertain dispatch that may still sit in its input box."""

    def transport(self, server_id: str) -> Transport:
        t: Transport | None = self._transports.get(server_id)
        if t is None:
            server = self.servers.get(server_id)
            if server is None:  # removed from the configuration while the hub runs
                raise RemoteError("unknown_server", sent=False, server=server_id)
            exec_t: LocalTransport | SshTransport
            if isinstance(server, SshServer):
                ssh = SshTransport(server, timeout=self.settings.command_timeout_s,
                                   connect_timeout=self.settings.connect_timeout_s,
                                   pool=self.pool)
                exec_t, opener = ssh, ssh.open_control
            else:
                exec_t = LocalTransport(server.id, timeout=self.settings.command_timeout_s)
                sid = server.id

                async def opener(sock: list[str]) -> Stream:
                    return await open_local(sid, sock)
            self._exec[server_id] = exec_t
            if self.settings.transport == "exec":
                t = exec_t
            else:
                control = ControlTransport(
                    server.id, opener, exec_t, timeout=self.settings.command_timeout_s,
                    connect_timeout=self.settings.connect_timeout_s,
                    choice=self.settings.transport, on_change=self._panes_changed)
                self.pool.proof[server.id] = lambda: control.alive
                t = control
            self._transports[server_id] = t
        return t

    def _panes_changed(self, server_id: str, kind: str) -> None:
        if self.on_panes_changed is not None:
            self.on_panes_changed(server_id)

    def transport_name(self, server_id: str) -> str:
        """"control mode" or "exec (why)", as last decided for the server."""
        t = self._transports.get(server_id)
        if isinstance(t, ControlTransport):
            return t.describe()
        return "exec (configured)" if self.settings.transport == "exec" else "exec"

    async def check_transport(self, server_id: str) -> str:
        """Try the control channel on the server's configured socket; say which is used."""
        server = self.servers[server_id]
        t = self.transport(server_id)
        if isinstance(t, ControlTransport) and t.mode == "control":
            sock = ["-L", server.tmux_socket] if server.tmux_socket else []
            async with self._guard(server_id):
                try:
                    client = await t._client(sock)
                except RemoteError as exc:
                    return f"exec ({exc.context.get('detail') or exc.code})"
            if client is None:
                return "exec (no tmux session to attach a control client to yet)"
        return self.transport_name(server_id)

    def _lock(self, server_id: str, socket: str, pane: str) -> asyncio.Lock:
        key = (server_id, socket, pane)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def send_text(self, session: Session, text: str, *,
                        before_typing: Callable[[], Awaitable[None]] | None = None,
                        verify: bool = False) -> Delivery:
        """Type `text` into the session's pane and submit it with Enter.

        `before_typing` runs once the pane is ours, just before the first key: only from
        then on can the text have reached tmux. `verify`: first make sure the pane is alive
        and still in the session's tmux session (`pane_gone`, `pane_not_session`).
        """
        text = clean_text(text)
        if not text.strip():
            raise InputError("text_empty")
        if len(text) > self.settings.max_text_chars:
            raise InputError("text_too_long", length=len(text), limit=self.settings.max_text_chars)
        text = keyboard_form(text)
        server, sock, transport = self._where(session)
        assert session.pane_id is not None
        pane = session.pane_id
        started = time.monotonic()
        key: Pane = (server.id, " ".join(sock), pane)
        async with self._guard(server.id), self._lock(*key):
            if verify:
                await self._verify(transport, sock, session)
            waiting = self.leftovers.get(key)
            if waiting is not None:
                await self._refuse_if_waiting(transport, sock, session, waiting)
            if before_typing is not None:
                await before_typing()
            typed = False
            try:
                if "\n" in text:
                    buf = f"ccr-{secrets.token_hex(4)}"
                    await self._call(transport, [*sock, "load-buffer", "-b", buf, "-"],
                                     stdin=text.encode("utf-8"))
                    await self._call(transport, [*sock, "paste-buffer", "-p", "-d", "-b", buf,
                                                 "-t", pane])
                elif self._pipelined(transport):
                    # no settle wanted: text and Enter as one line, one round trip; tmux
                    # skips the Enter if the text failed (both name the same pane)
                    await self._call(transport, [*sock, "send-keys", "-t", pane, "-H",
                                                 *hex_keys(text), ";", "send-keys", "-t",
                                                 pane, "Enter"], together=True)
                    self.leftovers.forget(key)
                    return Delivery(enters=1, seconds=time.monotonic() - started)
                else:
                    await self._call(transport, [*sock, "send-keys", "-t", pane, "-H",
                                                 *hex_keys(text)])
                typed = True
                adaptive = await self._settle(transport, sock, pane, text)
                before = (await self._look(transport, sock, pane)
                          if self.settings.enter_check_ms else None)
                await self._call(transport, [*sock, "send-keys", "-t", pane, "Enter"])
                enters = 1
                if self.settings.enter_check_ms and await self._enter_lost(
                    transport, sock, pane, text, before
                ):
                    await self._tmux(transport, [*sock, "send-keys", "-t", pane, "Enter"])
                    enters = 2
                if adaptive:
                    self.submits["adaptive"] += 1
                    self.submits["early"] += enters - 1
            except RemoteError as exc:
                if typed or exc.sent:
                    self.leftovers.remember(key, text)
                raise self._for_session(exc, session, typed) from None
            self.leftovers.forget(key)
        return Delivery(enters=enters, seconds=time.monotonic() - started)

    async def _refuse_if_waiting(self, transport: Transport, sock: list[str],
                                 session: Session, waiting: str) -> None:
        """Refuse to type while an earlier uncertain text sits unsubmitted on the input line."""
        assert session.pane_id is not None
        try:
            lines = await self._input_lines(transport, sock, session.pane_id)
        except RemoteError as exc:
            raise self._for_session(exc, session, False) from None
        # Only the cursor's own line: the line above may be the program echoing the text
        # it did receive (a submitted prompt), which must not block the pane forever.
        if still_on_input_line(lines[-1:], waiting):
            last = waiting.strip().rsplit("\n", 1)[-1]
            shown = last if len(last) <= 60 else last[:59] + "…"
            raise RemoteError("input_waiting", sent=False, handle=session.handle,
                              server=session.server_id, text=shown)

    def may_hold(self, session: Session, text: str) -> None:
        """`text` may sit unsubmitted in the session's pane (a hub killed while typing it):
        refuse to type there while it does, as after an uncertain dispatch."""
        server = self.servers.get(session.server_id)
        if server is not None and session.pane_id:
            self.leftovers.remember(
                (server.id, " ".join(tmux_target(server, session)), session.pane_id), text)

    async def press(self, session: Session, keys: list[str], *, verify: bool = False) -> None:
        """Press keys on purpose: named keys from `NAMED_KEYS`, or single characters typed
        literally. Holds the pane like typing does, so it never lands inside a command.
        `verify` as for `send_text`."""
        for key in keys:
            if key not in NAMED_KEYS and len(key) != 1:
                raise InputError("text_empty")
        server, sock, transport = self._where(session)
        assert session.pane_id is not None
        pane = session.pane_id
        async with self._guard(server.id), self._lock(server.id, " ".join(sock), pane):
            if verify:
                await self._verify(transport, sock, session)
            for key in keys:
                args = [key] if key in NAMED_KEYS else ["-H", *hex_keys(key)]
                try:
                    await self._call(transport, [*sock, "send-keys", "-t", pane, *args])
                except RemoteError as exc:
                    raise self._for_session(exc, session, False) from None

    async def capture(self, session: Session, lines: int = 40) -> str:
        """The visible screen of the session's pane (its last `lines` lines), as text."""
        server, sock, transport = self._where(session)
        assert session.pane_id is not None
        async with self._guard(server.id):
            try:
                out = await self._tmux(transport, [*sock, "capture-pane", "-p", "-J",
                                                   "-t", session.pane_id])
            except RemoteError as exc:
                raise self._for_session(exc, session, False) from None
        rows = out.rstrip("\n").split("\n")
        while rows and not rows[-1].strip():
            rows.pop()
        return "\n".join(rows[-lines:])

    async def screen(self, session: Session) -> PaneScreen:
        """The session's pane as it is now, with its colours and size (ccr.remote.screen).
        A pane that is gone, dead or now in another tmux session raises `screen_gone`."""
        server, sock, transport = self._where(session)
        assert session.pane_id is not None
        async with self._guard(server.id):
            try:
                out = await self._call(transport, screen_args(sock, session.pane_id))
            except RemoteError as exc:
                raise self._gone_or(exc, session) from None
        return self._same_pane(parse_screen(out), session)

    async def tail(self, session: Session, lines: int) -> str:
        """The last `lines` lines of the session's pane (history included), as plain text."""
        server, sock, transport = self._where(session)
        assert session.pane_id is not None
        async with self._guard(server.id):
            try:
                out = await self._call(transport, tail_args(sock, session.pane_id, lines))
            except RemoteError as exc:
                raise self._gone_or(exc, session) from None
        return last_lines(self._same_pane(parse_screen(out), session).ansi, lines)

    @staticmethod
    def _same_pane(shot: PaneScreen | None, session: Session) -> PaneScreen:
        """The capture, unless the pane died or tmux reused its id in another session."""
        if shot is None or shot.dead or (session.tmux_session and
                                         shot.session_name != session.tmux_session):
            raise RemoteError("screen_gone", handle=session.handle, server=session.server_id)
        return shot

    def _gone_or(self, exc: RemoteError, session: Session) -> RemoteError:
        if exc.code == "pane_gone":
            return RemoteError("screen_gone", handle=session.handle, server=session.server_id)
        return self._for_session(exc, session, False)

    def _where(self, session: Session) -> tuple[LocalServer | SshServer, list[str], Transport]:
        server = self.servers.get(session.server_id)
        if server is None:
            raise RemoteError("unknown_server", server=session.server_id)
        if not session.pane_id:
            raise RemoteError("session_not_in_tmux", handle=session.handle)
        return server, tmux_target(server, session), self.transport(server.id)

    def _pipelined(self, transport: Transport) -> bool:
        """Text and Enter in one control-mode line: only when no settle and no Enter check
        are wanted (nothing may happen between them; adaptive submit waits at most
        `settle_ms`, so with 0 it does not wait either)."""
        return (self.settings.settle_ms == 0 and self.settings.enter_check_ms == 0
                and isinstance(transport, ControlTransport)
                and transport.mode == "control")

    async def _settle(self, transport: Transport, sock: list[str], pane: str,
                      text: str) -> bool:
        """Wait before the Enter; True when the adaptive wait was used.

        Adaptive (control mode only): watch the pane's `%output` and go once the typed
        text shows on the input line and the pane printed nothing for `adaptive_min_ms`
        (ccr/remote/echo.py); where output cannot be watched, poll the pane every 2 ms
        instead. `settle_ms` stays the upper bound.
        """
        settle = self.settings.settle_ms / 1000
        adaptive = (self.settings.submit == "adaptive" and isinstance(transport, ControlTransport)
                    and transport.mode == "control")
        if not adaptive:
            await asyncio.sleep(settle)
            return False
        assert isinstance(transport, ControlTransport)
        start = time.monotonic()
        floor = min(self.settings.adaptive_min_ms / 1000, settle)
        if self.settings.adaptive_output:
            client = await transport.client(sock)
            watch = None
            if client is not None:
                with contextlib.suppress(RemoteError):
                    watch = await start_watch(client, pane)
            if client is not None and watch is not None:
                try:
                    await echoed_and_quiet(watch, quiet_s=floor, deadline=start + settle,
                                           shown=lambda: self._shown(transport, sock, pane,
                                                                     text))
                finally:
                    stop_watch(client, watch)
                return True
        while (elapsed := time.monotonic() - start) < settle:
            try:
                lines = await self._input_lines(transport, sock, pane)
            except RemoteError:
                lines = []
            if still_on_input_line(lines, text):
                if elapsed < floor:
                    await asyncio.sleep(floor - elapsed)
                return True
            await asyncio.sleep(0.002)
        return True

    async def _shown(self, transport: Transport, sock: list[str], pane: str,
                     text: str) -> bool:
        """Does the typed text sit on the pane's input line? A failed look says no."""
        try:
            return still_on_input_line(await self._input_lines(transport, sock, pane), text)
        except RemoteError:
            return False

    async def _call(self, transport: Transport, args: list[str], *,
                    stdin: bytes | None = None, together: bool = False) -> str:
        """One tmux call; retried only while its failures provably never reached tmux."""
        if self.retry is None or self.retry.attempts <= 1:
            return await self._tmux(transport, args, stdin=stdin, together=together)
        return await self.retry.call(
            lambda: self._tmux(transport, args, stdin=stdin, together=together),
            retry_if=never_reached, sink=self.log, what=f"tmux on {transport.server_id}")

    async def _tmux(self, transport: Transport, args: list[str], *,
                    stdin: bytes | None = None, together: bool = False) -> str:
        """One tmux call as a span of the command's trace (its subcommand, never its text)."""
        server = self.servers.get(transport.server_id)
        started = time.perf_counter()
        code: str | None = None
        answered = False
        try:
            span = (self.tracing.span(f"tmux {tmux_subcommand(args)}", only_in_trace=True,
                                      component="ssh" if isinstance(server, SshServer)
                                      else "tmux", server=transport.server_id)
                    if self.tracing.enabled else contextlib.nullcontext())
            with span:
                if together and isinstance(transport, ControlTransport):
                    out = await transport.tmux(args, stdin=stdin, together=True)
                else:
                    out = await transport.tmux(args, stdin=stdin)
            answered = True
            return out
        except RemoteError as exc:
            code = exc.code
            raise
        finally:
            # Timed for the metrics, failures included; a cancelled call has no outcome.
            if self.observe is not None and (answered or code is not None):
                self.observe(transport.server_id, code, time.perf_counter() - started)

    def connections(self) -> dict[str, int]:
        """Open SSH connections per SSH server (for the metrics)."""
        counts = self.pool.connections()
        return {sid: counts.get(sid, 0) for sid in self._transports
                if isinstance(self.servers[sid], SshServer)}

    @contextlib.asynccontextmanager
    async def _guard(self, server_id: str) -> AsyncIterator[None]:
        """The server's breaker around one operation: refuse fast, count the outcome."""
        board = self.breakers
        if board is None:
            yield
            return
        with self.tracing.span("breaker.check", component="breaker", server=server_id,
                               only_in_trace=True):
            await board.admit(server_id)
        try:
            yield
        except RemoteError as exc:
            if server_fault(exc):
                await board.failure(server_id, exc.message)
            else:
                await board.success(server_id)  # tmux answered; the pane is another matter
            raise
        except BaseException:
            board.release(server_id)
            raise
        await board.success(server_id)

    async def _look(self, transport: Transport, sock: list[str],
                    pane: str) -> list[str] | None:
        """The input lines now, or None when they cannot be read (the check then trusts
        its first look)."""
        try:
            return await self._input_lines(transport, sock, pane)
        except RemoteError:
            return None

    async def _enter_lost(self, transport: Transport, sock: list[str], pane: str,
                          text: str, before: list[str] | None) -> bool:
        """Did the text stay on the input line? A failed check counts as delivered.

        While the lines are exactly as they were before the Enter, the program has not
        read its input yet (a loaded machine): look again, up to ENTER_LOOKS times, rather
        than take "not read yet" for "swallowed" and press Enter twice.
        """
        lines: list[str] | None = None
        for _ in range(ENTER_LOOKS):
            await asyncio.sleep(self.settings.enter_check_ms / 1000)
            lines = await self._look(transport, sock, pane)
            if lines is None:
                return False
            if before is None or lines != before:
                break
        return lines is not None and still_on_input_line(lines, text)

    async def _input_lines(self, transport: Transport, sock: list[str],
                           pane: str) -> list[str]:
        """The line with the cursor and the one above it."""
        out = await self._tmux(transport, [*sock, "display-message", "-p", "-t", pane,
                                           "#{cursor_y}", ";", "capture-pane", "-p", "-t", pane])
        first, _, screen = out.partition("\n")
        try:
            y = int(first.strip())
        except ValueError:
            return []
        lines = screen.split("\n")
        return lines[max(0, y - 1): y + 1] if 0 <= y < len(lines) else []

    @staticmethod
    def _for_session(exc: RemoteError, session: Session, typed: bool) -> RemoteError:
        """Name the session in the error; once keys were typed, any failure is uncertain."""
        ctx = dict(exc.context, handle=session.handle, server=session.server_id)
        if typed or exc.sent:
            ctx.setdefault("detail", exc.message)
            return RemoteError("delivery_uncertain", sent=True, **ctx)
        return RemoteError(exc.code, sent=False, **ctx)

    async def probe(self, server_id: str) -> str:
        """A cheap call that proves tmux on the server answers; returns its version."""
        async with self._guard(server_id):
            return (await self._tmux(self.transport(server_id), ["-V"])).strip()

    async def run_program(self, server_id: str, argv: list[str]) -> ProgramOutput:
        """Run a program other than tmux on a server (read-only checks: `ccr doctor` asks
        `claude --version` and reads Claude's settings), within the executor's command
        timeout. Its exit status is returned, not raised; a server that cannot be reached
        raises `RemoteError`."""
        self.transport(server_id)
        async with self._guard(server_id):
            return await self._exec[server_id].run(argv)

    # --- Claude windows: start, look at, end (ccr.services.session_control) -------------

    async def resolve_dir(self, server_id: str, directory: str) -> str | None:
        """`directory` on the server as an absolute path (`~` and relative paths start at
        the login's home), or None when it is no directory there. It is an argument of a
        fixed program, never shell code."""
        out = await self.run_program(server_id, resolve_argv(directory))
        try:
            return resolved(out)
        except ValueError as exc:
            raise RemoteError("dir_check_failed", sent=False, server=server_id,
                              detail=str(exc)) from None

    async def new_window(self, server_id: str, directory: str, command: str) -> str:
        """Run `command` (the server's configured Claude command line) in a new window of
        the server's `tmux_session` (created if missing) on its configured socket, in
        `directory`; the new pane's id. The window stays, dead, if the command exits at once
        (remain-on-exit), so what it printed can be shown."""
        server = self.servers[server_id]
        sock = server_socket(server.tmux_socket)
        transport = self.transport(server_id)
        name = server.tmux_session
        window = new_window_args(sock, name, directory, command)
        async with self._guard(server_id):
            for attempt in range(WINDOW_ATTEMPTS):
                try:
                    out = await self._call(transport, window, together=True)
                    break
                except RemoteError as exc:
                    if exc.sent or exc.code != "pane_gone":
                        raise
                try:  # no such tmux session (or no tmux server) yet: make it
                    out = await self._call(transport, new_session_args(
                        sock, name, directory, command), together=True)
                    break
                except RemoteError as exc:
                    # "duplicate session": another start made it meanwhile; "server exited
                    # unexpectedly": the tmux server was quitting with its last session.
                    # Neither made anything, so the next round may try again.
                    if exc.sent or attempt == WINDOW_ATTEMPTS - 1 or not (
                            exc.code == "pane_gone"
                            or "duplicate session" in str(exc.context.get("detail"))):
                        raise
                await asyncio.sleep(0.1 * (attempt + 1))
        pane = pane_id_of(out)
        if pane is None:
            raise RemoteError("tmux_failed", sent=True, server=server_id,
                              detail=f"tmux did not name the new pane ({out.strip()[:80]!r})")
        return pane

    def socket_of(self, server_id: str, session: Session | None = None) -> list[str]:
        """A session's socket options, or the server's configured socket."""
        server = self.servers[server_id]
        if session is not None:
            return tmux_target(server, session)
        return server_socket(server.tmux_socket)

    async def pane_state(self, server_id: str, pane: str,
                         sock: list[str]) -> PaneState | None:
        """The pane as tmux sees it now; None when it (or its tmux server) is gone."""
        async with self._guard(server_id):
            try:
                out = await self._tmux(self.transport(server_id),
                                       [*sock, "display-message", "-p", "-t", pane,
                                        PANE_FORMAT])
            except RemoteError as exc:
                if exc.code == "pane_gone":
                    return None
                raise
        return pane_state(pane, out)

    async def window_command(self, server_id: str, pane: str, sock: list[str],
                             args: list[str]) -> str:
        """One tmux command aimed at a pane of a window ccr manages (`kill-pane`,
        `set-option -w remain-on-exit off`, `capture-pane`), holding the pane's lock."""
        async with self._guard(server_id), self._lock(server_id, " ".join(sock), pane):
            return await self._tmux(self.transport(server_id), [*sock, *args[:1], "-t", pane,
                                                                 *args[1:]])

    async def _verify(self, transport: Transport, sock: list[str], session: Session) -> None:
        """The session's pane still exists, lives, and sits in the session's tmux session."""
        assert session.pane_id is not None
        try:
            out = await self._tmux(transport, [*sock, "display-message", "-p", "-t",
                                               session.pane_id, PANE_FORMAT])
        except RemoteError as exc:
            raise self._for_session(exc, session, False) from None
        state = pane_state(session.pane_id, out)
        if state is None or state.dead:
            raise RemoteError("pane_gone", sent=False, handle=session.handle,
                              server=session.server_id)
        if session.tmux_session and state.session_name != session.tmux_session:
            raise RemoteError("pane_not_session", sent=False, handle=session.handle,
                              server=session.server_id, pane=session.pane_id,
                              found=state.session_name, expected=session.tmux_session)

    async def list_panes(self, server_id: str, sock: list[str]) -> dict[str, str]:
        """Every pane on one tmux server, {pane id: session name}, in ONE call."""
        async with self._guard(server_id):
            out = await self._tmux(self.transport(server_id),
                                   [*sock, "list-panes", "-a", "-F", "#{pane_id} #{session_name}"])
        panes: dict[str, str] = {}
        for line in out.splitlines():
            pane, _, name = line.partition(" ")
            if pane.startswith("%"):
                panes[pane] = name
        return panes

    async def forget(self, server_id: str) -> None:
        """The server left the configuration: close its transport and its connections."""
        self.servers.pop(server_id, None)
        t = self._transports.pop(server_id, None)
        if t is not None:
            await t.close()
        await self.pool.forget(server_id)

    async def close(self) -> None:
        for t in self._transports.values():
            await t.close()
        self._transports.clear()
        await self.pool.close()
