"""tmux control mode: one long-lived `tmux -C` client per server and tmux socket.

Commands are written as lines and matched to their `%begin`/`%end`/`%error` blocks, which
tmux sends in order (a FIFO of futures; blocks not started by us, flag 0, are skipped). The
client attaches with `-f ignore-size,no-output`, so the user's windows keep their sizes and
pane output is not streamed. A dispatch whose `%end` never came (the channel closed, tmux
went quiet) is uncertain (`sent=True`) and never resent; a failure to open the channel ran
nothing (`sent=False`). Notifications that say a window or session went away are passed to
`on_change`, which lets session recovery look at once instead of at its next poll.

Arguments are quoted for tmux's command parser by `quote()`: every byte outside printable
ASCII becomes an octal escape inside double quotes, and `"`, `\\`, `$` are escaped, so no
byte is ever interpreted (the property test in tests/unit/test_control_quote.py proves it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import shutil
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ccr.core.errors import RemoteError
from ccr.remote.transport import Transport, tmux_failure

ATTACH = ["attach-session", "-f", "ignore-size,no-output"]
"""The control client's own command: attach to any session, change nothing the user sees."""
LOSS_NOTICES = ("%window-close", "%unlinked-window-close", "%sessions-changed", "%exit",
                "%session-closed")
_SAFE = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\"), ord("$")}
_ALL_SAFE = re.compile(r'[\x20-\x21\x23\x25-\x5b\x5d-\x7e]*\Z')
"""Printable ASCII but `"`, `$`, `\\`: quoted as is (the common case: flags, ids, hex)."""


def quote(value: str) -> str:
    """`value` as one tmux command-parser token that tmux reads back byte for byte.

    NUL cannot be carried (tmux strings are C strings) and is refused.
    """
    if _ALL_SAFE.match(value):
        return f'"{value}"'
    data = value.encode("utf-8")
    if b"\x00" in data:
        raise ValueError("tmux arguments cannot contain NUL")
    out = ['"']
    for b in data:
        if b in _SAFE:
            out.append(chr(b))
        elif b in (0x22, 0x5C, 0x24):
            out.append("\\" + chr(b))
        else:
            out.append(f"\\{b:03o}")
    out.append('"')
    return "".join(out)


def command_lines(args: list[str]) -> list[str]:
    """An argv for `tmux` (without socket options) as control-mode lines, one per command.

    A bare `;` argument separates commands, as on tmux's command line; each command gets
    its own line because tmux answers each with its own `%begin`/`%end` block.
    """
    lines: list[list[str]] = [[]]
    for a in args:
        if a == ";":
            lines.append([])
        else:
            lines[-1].append(quote(a))
    return [" ".join(words) for words in lines if words]


def one_line(args: list[str]) -> str:
    """Commands separated by bare `;` as ONE control-mode line: tmux answers it with one
    block and skips the commands after the first that fails (send-keys text, then Enter:
    no Enter lands if the text could not be typed)."""
    return " ".join(";" if a == ";" else quote(a) for a in args)


def split_socket(args: list[str]) -> tuple[list[str], list[str]]:
    """(`-L`/`-S` options, the rest)."""
    i = 0
    while i + 1 < len(args) and args[i] in ("-L", "-S"):
        i += 2
    return args[:i], args[i:]


class Stream(Protocol):
    """The two ends of a `tmux -C` process: lines in, bytes out."""

    async def readline(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


Opener = Callable[[list[str]], Awaitable[Stream]]
"""Starts `tmux SOCKET -C ATTACH` on the server; RemoteError(sent=False) if it cannot."""


class PaneWatch:
    """A pane's `%output` as seen by one control client: when it last printed."""

    def __init__(self, pane: str) -> None:
        self.pane = pane
        self.since = time.monotonic()
        """When the watch began (output before it was not seen)."""
        self.last = self.since
        """The last `%output` from the pane, or the start of the watch."""
        self.outputs = 0
        self.closed = False
        self.event = asyncio.Event()

    def saw(self) -> None:
        self.last = time.monotonic()
        self.outputs += 1
        self.event.set()


@dataclass
class _Pending:
    future: asyncio.Future[tuple[bool, str]]
    lines: list[str] = field(default_factory=list)


class ControlClient:
    """One `tmux -C` client: writes command lines, reads their blocks and notifications."""

    def __init__(self, server_id: str, stream: Stream, *, timeout: float,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.server_id = server_id
        self.stream = stream
        self.timeout = timeout
        self.on_change = on_change
        self.alive = True
        self.last_ok = time.monotonic()
        self.why_closed = ""
        self._fifo: deque[asyncio.Future[tuple[bool, str]]] = deque()
        self._head_begun = False
        """The oldest waiting command's `%begin` came: tmux started running it."""
        self._preamble: list[str] = []
        """Plain lines before the attach answered: tmux's complaint when it refuses."""
        self._reader: asyncio.Task[None] | None = None
        self.watches: dict[str, PaneWatch] = {}
        """Panes whose `%output` is wanted now; output is on only while this is not empty."""
        self.watch_session: str | None = None
        """The session the watches hold this client in (tmux sends output of its own only)."""
        self._ready: asyncio.Future[tuple[bool, str]] = (
            asyncio.get_running_loop().create_future())

    async def start(self, deadline_s: float) -> None:
        """Wait for the attach block; RemoteError(sent=False) when tmux refused."""
        self._reader = asyncio.create_task(self._read(), name=f"tmux-control-{self.server_id}")
        try:
            ok, text = await asyncio.wait_for(asyncio.shield(self._ready), deadline_s)
        except TimeoutError:
            await self.close("no answer to attach")
            raise RemoteError("tmux_failed", sent=False, server=self.server_id,
                              detail="tmux control mode did not answer") from None
        if not ok:
            await self.close(text)
            raise control_refused(self.server_id, text)

    async def run(self, lines: list[str]) -> str:
        """Send the lines; their outputs joined. Uncertain if any answer never came."""
        if not self.alive:
            raise RemoteError("ssh_unreachable", sent=False, server=self.server_id,
                              detail=f"the tmux control channel is closed ({self.why_closed})")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in lines]
        try:
            self.stream.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
        except (OSError, RuntimeError) as exc:
            # The channel closed before the reader noticed: the write was refused, so
            # nothing of this call left the hub.
            self._die(f"the control channel closed ({type(exc).__name__})")
            raise RemoteError("ssh_unreachable", sent=False, server=self.server_id,
                              detail=f"the tmux control channel is closed ({self.why_closed})",
                              not_run=True) from None
        self._fifo.extend(futures)  # no await since the write: no answer can come first
        outputs: list[str] = []
        error: RemoteError | None = None
        answers: list[tuple[bool, str]] = []
        try:
            # one deadline for the lot (no task per line); a cancelled caller cancels only
            # its futures, which stay in the FIFO until their blocks come
            async with asyncio.timeout(self.timeout):
                for fut in futures:
                    answers.append(await fut)
        except TimeoutError:
            await self.close("tmux did not answer in time")
            raise RemoteError("delivery_uncertain", sent=True, server=self.server_id,
                              handle="?", detail="tmux did not answer in time") from None
        for ok, text in answers:
            if ok:
                outputs.append(text)
            elif error is None:
                error = tmux_failure(self.server_id, text)
        if error is not None:
            raise error
        self.last_ok = time.monotonic()
        return "".join(outputs)

    async def _read(self) -> None:
        block: tuple[str, list[str]] | None = None  # (begin fields, lines)
        why = "the control channel closed"
        clean = False
        try:
            while True:
                raw = await self.stream.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if block is not None:
                    head, _, rest = line.partition(" ")
                    if head in ("%end", "%error") and rest == block[0]:
                        self._finish(block[0], head == "%end", block[1])
                        block = None
                    else:
                        block[1].append(line)
                    continue
                if not self._ready.done() and not line.startswith("%"):
                    self._preamble.append(line)
                elif line.startswith("%begin "):
                    block = (line[len("%begin "):], [])
                    if self._ready.done() and block[0].endswith(" 1"):
                        self._head_begun = True
                elif line.startswith("%output "):
                    if self.watches:
                        watch = self.watches.get(line[8:line.find(" ", 8)])
                        if watch is not None:
                            watch.saw()
                elif line.startswith("%exit"):
                    why = "tmux ended the control client" + line[len("%exit"):]
                    clean = True
                    break
                elif line.startswith(LOSS_NOTICES):
                    self._notice(line.split(" ", 1)[0])
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            why = f"the control channel failed ({type(exc).__name__})"
        except asyncio.CancelledError:
            why = "closed by ccr"
            raise
        finally:
            self._die(why, clean=clean)

    def send_nowait(self, lines: list[str]) -> None:
        """Write lines whose answers nobody waits for (output off again, say); their
        blocks still keep the FIFO in step, and a failure is only dropped."""
        if not self.alive:
            return
        loop = asyncio.get_running_loop()
        for _ in lines:
            fut: asyncio.Future[tuple[bool, str]] = loop.create_future()
            fut.add_done_callback(_ignore)
            self._fifo.append(fut)
        self.stream.write("".join(f"{line}\n" for line in lines).encode("utf-8"))

    def _finish(self, fields: str, ok: bool, lines: list[str]) -> None:
        text = "".join(f"{line}\n" for line in lines)
        if not self._ready.done():
            self._ready.set_result((ok, text))
            return
        if fields.rsplit(" ", 1)[-1] != "1":
            return  # not an answer to one of our lines (a hook's command, say)
        if self._fifo:
            fut = self._fifo.popleft()
            self._head_begun = False
            if not fut.done():
                fut.set_result((ok, text))

    def _notice(self, kind: str) -> None:
        if self.on_change is not None and self._ready.done():
            with contextlib.suppress(Exception):
                self.on_change(kind)

    def _die(self, why: str, *, clean: bool = False) -> None:
        """Fail what waits. After a clean `%exit` (tmux flushed everything in order) a
        command whose `%begin` never came never ran: `not_run`, safe to send elsewhere.
        After a lost channel nothing is known: uncertain."""
        if not self.alive:
            return
        self.alive = False
        self.why_closed = why
        with contextlib.suppress(Exception):
            self.stream.close()
        if not self._ready.done():
            self._ready.set_result((False, "\n".join(self._preamble[-5:]) or why))
        err = RemoteError("delivery_uncertain", sent=True, server=self.server_id, handle="?",
                          detail=f"{why} before tmux answered")
        unrun = RemoteError("ssh_unreachable", sent=False, server=self.server_id,
                            detail=f"{why}; the command never ran", not_run=True)
        first = True
        while self._fifo:
            fut = self._fifo.popleft()
            if not fut.done():
                began = first and self._head_begun
                fut.set_exception(unrun if clean and not began else err)
                fut.exception()  # retrieved: a caller may have given up already
            first = False
        for watch in self.watches.values():
            watch.closed = True
            watch.event.set()
        if self.on_change is not None and why != "closed by ccr" and self._ready.done():
            # %exit (session or server gone) or a lost channel: recovery should look now
            with contextlib.suppress(Exception):
                self.on_change("%lost")

    async def close(self, why: str = "closed by ccr") -> None:
        self._die(why)
        with contextlib.suppress(Exception):
            self.stream.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        wait_closed = getattr(self.stream, "wait_closed", None)
        if wait_closed is not None:
            with contextlib.suppress(Exception):
                await wait_closed()


def _ignore(fut: asyncio.Future[tuple[bool, str]]) -> None:
    if not fut.cancelled():
        fut.exception()


def control_refused(server_id: str, text: str) -> RemoteError:
    """tmux would not start a control client: old tmux, no sessions, no server."""
    err = tmux_failure(server_id, text or "tmux control mode refused")
    return RemoteError(err.code, sent=False, **dict(err.context, control_refused=True))


def unsupported(exc: RemoteError) -> bool:
    """A refusal that will not change by trying again (tmux too old, unknown flag)."""
    detail = str(exc.context.get("detail", "")).lower()
    return any(s in detail for s in ("unknown flag", "invalid option", "unknown option",
                                     "usage:", "not installed"))


class _ProcStream:
    """A local `tmux -C` subprocess as a Stream."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stdout is not None and proc.stdin is not None
        self._out = proc.stdout
        self._in = proc.stdin

    async def readline(self) -> bytes:
        return await self._out.readline()

    def write(self, data: bytes) -> None:
        self._in.write(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._in.close()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()

    async def wait_closed(self) -> None:
        """Reap the process, so no transport outlives the event loop."""
        try:
            await asyncio.wait_for(self.proc.wait(), 2)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def open_local(server_id: str, sock: list[str]) -> Stream:
    tmux = shutil.which("tmux")
    if tmux is None:
        raise RemoteError("tmux_failed", sent=False, server=server_id,
                          detail="tmux is not installed on this machine")
    proc = await asyncio.create_subprocess_exec(
        tmux, *sock, "-C", *ATTACH, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        limit=4 * 1024 * 1024)
    return _ProcStream(proc)


def remote_command(sock: list[str]) -> str:
    return shlex.join(["tmux", *sock, "-C", *ATTACH])


class ControlTransport:
    """A Transport that sends tmux commands over control-mode clients, one per socket.

    `mode` is "control" or "exec"; `why` says why exec was chosen. In "auto" a control
    client that tmux refuses for good (too old) switches the server to exec; a refusal that
    may pass (no sessions yet) uses exec for that call only.
    """

    def __init__(self, server_id: str, opener: Opener, fallback: Transport, *,
                 timeout: float, connect_timeout: float, choice: str = "auto",
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self.server_id = server_id
        self.opener = opener
        self.fallback = fallback
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.choice = choice
        self.on_change = on_change
        self.mode = "exec" if choice == "exec" else "control"
        self.why = "configured" if choice == "exec" else ""
        self._clients: dict[tuple[str, ...], ControlClient] = {}
        self._opening: dict[tuple[str, ...], asyncio.Lock] = {}

    def describe(self) -> str:
        if self.mode == "control":
            return "control mode"
        return f"exec ({self.why})" if self.why else "exec"

    @property
    def alive(self) -> bool:
        """Some control client is open and answered recently: liveness for free."""
        return any(c.alive for c in self._clients.values())

    async def tmux(self, args: list[str], *, stdin: bytes | None = None,
                   together: bool = False) -> str:
        """Run tmux commands (bare `;` between them). `together`: as one line, so a failing
        command skips the ones after it (the exec fallback behaves the same way)."""
        sock, rest = split_socket(args)
        if self.mode == "exec" or not rest or rest[0].startswith("-"):
            return await self.fallback.tmux(args, stdin=stdin)
        if stdin is not None:
            if rest[0] != "load-buffer" or rest[-1] != "-":
                return await self.fallback.tmux(args, stdin=stdin)
            rest = ["set-buffer", *rest[1:-1], stdin.decode("utf-8")]
        client = await self._client(sock)
        if client is None:
            return await self.fallback.tmux(args, stdin=stdin)
        try:
            return await client.run([one_line(rest)] if together else command_lines(rest))
        except RemoteError as exc:
            if not exc.context.get("not_run"):
                raise
        # tmux closed the client before running it (its session or server just went):
        # nothing ran, so asking once more the direct way cannot type anything twice
        return await self.fallback.tmux(args, stdin=stdin)

    async def client(self, sock: list[str]) -> ControlClient | None:
        """The live control client for a socket, None when exec is used for it."""
        if self.mode != "control":
            return None
        return await self._client(sock)

    async def _client(self, sock: list[str]) -> ControlClient | None:
        key = tuple(sock)
        client = self._clients.get(key)
        if client is not None and client.alive:
            return client
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:
            client = self._clients.get(key)
            if client is not None and client.alive:
                return client
            if client is not None:
                del self._clients[key]
                await client.close()  # reap the dead client's process before replacing it
            try:
                stream = await self.opener(sock)
                client = ControlClient(self.server_id, stream, timeout=self.timeout,
                                       on_change=self._changed)
                await client.start(self.connect_timeout)
            except RemoteError as exc:
                if not exc.context.get("control_refused"):
                    raise  # the server itself is unreachable: exec would not do better
                if self.choice == "control":
                    raise
                if unsupported(exc):
                    self.mode, self.why = "exec", str(exc.context.get("detail", ""))[:80]
                return None
            except (OSError, UnicodeError) as exc:
                raise RemoteError("ssh_unreachable", sent=False, server=self.server_id,
                                  detail=f"could not start tmux -C ({exc})") from None
            self._clients[key] = client
            return client

    def _changed(self, kind: str) -> None:
        if self.on_change is not None:
            self.on_change(self.server_id, kind)

    async def close(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for c in clients:
            await c.close()
        await self.fallback.close()
