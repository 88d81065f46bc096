"""A stand-in for Claude Code that runs in a tmux pane. Standard library only.

It powers `ccr demo` and the tests: the hub types into it exactly as it types into Claude
Code, and it answers, writes a Claude-Code-style transcript and fires the same hooks.

    python -m ccr.demo.agent --hook 'ccr hook' --state-dir /tmp/agent

Input handling copies what matters of Claude Code: raw tty, UTF-8, bracketed paste, and the
Enter swallowing: an Enter that comes within ``--burst-ms`` of the previous input byte (or
together with other bytes in one read) is part of a paste and inserts a newline; only an
Enter that arrives alone after a quiet gap submits.

``/sleep N`` answers after N seconds. ``/exit`` quits (a SessionEnd hook first), ``/clear``
clears the screen and starts a new conversation (SessionEnd with reason "clear", then
SessionStart with source "clear", as Claude Code does), and Esc while it answers interrupts
the turn, as in Claude Code. ``--continue`` is accepted (Claude Code's flag) and shown.
``/permission`` shows a Claude-Code-style Bash permission dialog instead of the input line:
1 or 2 (or Enter on the highlighted option, moved with the arrows) runs the command, 3 or Esc
declines; either way the turn ends with a Stop. Typed text does not reach the input while
the dialog is shown.

Files in ``--state-dir``:
  <session-id>.jsonl  transcript (user, assistant, then a system stop_hook_summary record)
  prompts.jsonl       every submitted prompt: {"text": ..., "at": unix time}
  events.jsonl        every hook event as sent on the hook's stdin
  starts.jsonl        each start: {"argv": [...], "pane": $TMUX_PANE, "cwd": ..., "at": ...}
  hook.log            the hook command's exit code, stdout and stderr
  agent.log           the agent's own log (exceptions included)
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback
import unicodedata
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

BANNER = "ccr stand-in agent — type a line, press Enter"
HOOK_TIMEOUT_S = 10.0
ESC_TIMEOUT_S = 0.05  # a lone ESC followed by nothing for this long is dropped
PASTE_END = "\x1b[201~"
CSI_LIMIT = 32
DIM, BOLD, RESET = "\x1b[2m", "\x1b[1m", "\x1b[0m"
PERMISSION_COMMAND = "echo 'stand-in permission check'"
PERMISSION_HEAD = ("Bash command", "", f"  {PERMISSION_COMMAND}", "", "Do you want to proceed?")
PERMISSION_OPTIONS = ("Yes", "Yes, and don't ask again",
                      "No, and tell Claude what to do differently (esc)")


class Quit(Exception):
    """Leave the main loop (Ctrl-D, /exit, end of input)."""


def utc_now() -> str:
    """ISO-8601 UTC with milliseconds and a Z, as in Claude Code's transcripts."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def shown(text: str) -> str:
    """Text for one screen line: newline as ⏎, other control characters as their pictures."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\n":
            out.append("⏎")
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("␡")
        elif 0x80 <= code < 0xA0:
            out.append("�")
        else:
            out.append(ch)
    return "".join(out)


def cell_width(ch: str) -> int:
    """Terminal cells taken by one character (close to wcwidth)."""
    if unicodedata.combining(ch) or ch in "\u200b\u200c\u200d\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cursor_row(lines: Sequence[str], width: int) -> int:
    """Screen rows above the cursor after writing *lines* (joined by newlines) from column 0."""
    width = max(width, 1)
    row = 0
    for index, line in enumerate(lines):
        if index:
            row += 1
        col = 0
        for ch in line:
            w = cell_width(ch)
            if col + w > width:
                row += 1
                col = 0
            col += w
    return row


class Log:
    """Append-only text log; never raises."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def write(self, msg: str) -> None:
        with self.lock, contextlib.suppress(OSError), self.path.open("a", encoding="utf-8") as f:
            f.write(f"{utc_now()} {msg.rstrip()}\n")


class Hooks:
    """Runs the hook command for each event, in order, on one background thread."""

    def __init__(self, command: str | None, state_dir: Path, cwd: str, log: Log) -> None:
        self.command = command
        self.cwd = cwd
        self.log = log
        self.hook_log = Log(state_dir / "hook.log")
        self.events_path = state_dir / "events.jsonl"
        self.jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="hooks", daemon=True)
        self.worker.start()

    def fire(self, event: dict[str, Any]) -> None:
        """Record the event and queue it for the hook command."""
        try:
            with self.events_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(event, ensure_ascii=False) + "\n")
        except OSError as exc:
            self.log.write(f"events.jsonl: {exc}")
        if self.command:
            self.jobs.put(event)

    def close(self, timeout: float) -> None:
        """Let queued hooks finish, up to *timeout* seconds."""
        self.jobs.put(None)
        self.worker.join(timeout)

    def _work(self) -> None:
        while (event := self.jobs.get()) is not None:
            try:
                self._run(event)
            except Exception:
                self.log.write("hook worker: " + traceback.format_exc())

    def _run(self, event: dict[str, Any]) -> None:
        assert self.command is not None
        env = dict(os.environ, CLAUDE_PROJECT_DIR=self.cwd)
        started = time.monotonic()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", self.command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, cwd=self.cwd, start_new_session=True)
        payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
        status: str
        try:
            out, err = proc.communicate(payload, timeout=HOOK_TIMEOUT_S)
            status = f"rc={proc.returncode}"
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            try:
                out, err = proc.communicate(timeout=1.0)
            except subprocess.TimeoutExpired:
                out, err = b"", b""
            status = f"timeout after {HOOK_TIMEOUT_S:g} s, killed"
        ms = (time.monotonic() - started) * 1000
        lines = [f"{event.get('hook_event_name')} {status} {ms:.0f} ms"]
        for name, data in (("stdout", out), ("stderr", err)):
            if data:
                text = data.decode("utf-8", "replace").rstrip("\n")
                lines.append(f"  {name}:")
                lines.extend("    " + line for line in text.splitlines())
        self.hook_log.write("\n".join(lines))


class Transcript:
    """The session's JSONL transcript, in Claude Code's record format."""

    def __init__(self, path: Path, session_id: str, cwd: str) -> None:
        self.path = path
        self.session_id = session_id
        self.cwd = cwd
        self.parent: str | None = None
        path.touch()

    def append(self, kind: str, **fields: Any) -> str:
        """Write one record, flushed and fsynced; returns its uuid."""
        record_id = str(uuid.uuid4())
        record: dict[str, Any] = {
            "type": kind, "uuid": record_id, "parentUuid": self.parent,
            "sessionId": self.session_id, "timestamp": utc_now(), "cwd": self.cwd,
            "version": "stand-in", "isSidechain": False, "userType": "external", **fields,
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.parent = record_id
        return record_id

    def user(self, text: str) -> None:
        """A prompt as typed."""
        self.append("user", message={"role": "user", "content": text})

    def assistant(self, content: list[dict[str, Any]]) -> None:
        """One assistant message."""
        self.append("assistant", message={
            "id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
            "model": "stand-in", "content": content, "stop_reason": "end_turn",
            "stop_sequence": None})

    def stop_summary(self, hook: str | None) -> None:
        """The bookkeeping record Claude Code writes after a reply."""
        self.append("system", subtype="stop_hook_summary", content="",
                    hookCount=1 if hook else 0,
                    hookInfos=[{"command": hook}] if hook else [], hookErrors=[],
                    preventedContinuation=False, stopReason="", hasOutput=False,
                    level="suggestion")


@dataclass
class Turn:
    """The prompt being answered."""

    text: str
    due: float
    kind: str  # "reply", "sleep" or "permission"
    reply: str


@dataclass
class Menu:
    """A permission dialog on screen, answered like Claude Code's: a digit chooses, the
    arrows move the highlight, Enter takes it, Esc declines."""

    tool_use_id: str
    selected: int = 1

    def lines(self) -> list[str]:
        marks = ["❯" if n == self.selected else " " for n in range(1, 4)]
        return [*PERMISSION_HEAD,
                *(f"{mark} {n}. {label}" for n, (mark, label)
                  in enumerate(zip(marks, PERMISSION_OPTIONS, strict=True), 1))]


@dataclass
class Options:
    """Parsed command line."""

    hook: str | None
    state_dir: Path
    session_id: str
    burst_ms: float
    reply_delay: float
    last_message: bool
    greet: bool
    name: str | None
    resume: bool = False
    argv: tuple[str, ...] = ()


class Agent:
    """Input parser, screen and turn logic. Single-threaded apart from the hook worker."""

    def __init__(self, opts: Options, in_fd: int = 0, out_fd: int = 1) -> None:
        self.opts = opts
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.cwd = os.getcwd()
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        self.log = Log(opts.state_dir / "agent.log")
        self.transcript = Transcript(opts.state_dir / f"{opts.session_id}.jsonl",
                                     opts.session_id, self.cwd)
        self.prompts_path = opts.state_dir / "prompts.jsonl"
        self.hooks = Hooks(opts.hook, opts.state_dir, self.cwd, self.log)
        self.burst = opts.burst_ms / 1000.0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.buffer = ""
        self.mode = "normal"  # normal, esc, csi, ss3, paste
        self.csi = ""
        self.paste = ""
        self.last_input = float("-inf")
        self.turn: Turn | None = None
        self.queued: deque[str] = deque()
        self.rows_up = 0  # rows between the top of the input area and the cursor
        self.menu: Menu | None = None  # a permission dialog replaces the input line

    # ---- screen -------------------------------------------------------------------------

    def write(self, text: str) -> None:
        """Write to the terminal; a vanished terminal is not an error."""
        data = text.encode("utf-8", "replace")
        with contextlib.suppress(OSError):
            while data:
                n = os.write(self.out_fd, data)
                data = data[n:]

    def width(self) -> int:
        try:
            return os.get_terminal_size(self.out_fd).columns
        except OSError:
            return 80

    def erase_area(self) -> str:
        """Escape codes that clear the status and input lines, cursor at their start."""
        up = f"\x1b[{self.rows_up}A" if self.rows_up else ""
        self.rows_up = 0
        return up + "\r\x1b[K\x1b[J"

    def draw(self) -> None:
        """Redraw the status line (while busy) and the input line; the cursor ends on it."""
        plain: list[str] = []
        styled: list[str] = []
        if self.menu is not None:
            plain = self.menu.lines()
            text = self.erase_area() + "\n".join(plain)
            self.rows_up = cursor_row(plain, self.width())
            self.write(text)
            return
        if self.turn is not None:
            status = "✻ Thinking… (Ctrl-C to interrupt)"
            if self.queued:
                status += f" · {len(self.queued)} queued"
            plain.append(status)
            styled.append(DIM + status + RESET)
        line = "> " + shown(self.buffer)
        plain.append(line)
        styled.append(line)
        text = self.erase_area() + "\n".join(styled)
        self.rows_up = cursor_row(plain, self.width())
        self.write(text)

    def print_above(self, text: str) -> None:
        """Print history lines above the input area, then redraw it."""
        self.write(self.erase_area() + text + "\n")
        self.draw()

    # ---- input --------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        """Handle one os.read chunk read at monotonic time *now*."""
        quiet = now - self.last_input >= self.burst
        if self.mode == "esc" and now - self.last_input >= ESC_TIMEOUT_S:
            self.mode = "normal"
        self.last_input = now
        text = self.decoder.decode(data)
        alone = len(text) == 1
        if self.menu is not None and text == "\x1b":  # the Esc key, alone in its read
            self.mode = "normal"
            self.decline()
            return
        if self.turn is not None and text == "\x1b":  # Esc interrupts, as in Claude Code
            self.mode = "normal"
            self.interrupt()
            self.draw()
            return
        for ch in text:
            self.char(ch, submit=quiet and alone)
        self.draw()

    def char(self, ch: str, *, submit: bool) -> None:
        """One decoded character; *submit* says an Enter here is a real keypress."""
        if self.mode == "paste":
            self.paste += ch
            if self.paste.endswith(PASTE_END):
                content = self.paste[: -len(PASTE_END)]
                self.paste = ""
                self.mode = "normal"
                if self.menu is None:  # a dialog takes no pasted text
                    self.buffer += content.replace("\r\n", "\n").replace("\r", "\n")
            return
        if self.mode == "esc":
            self.mode = {"[": "csi", "O": "ss3"}.get(ch, "normal")
            self.csi = ""
            return
        if self.mode == "ss3":
            self.mode = "normal"
            self.arrow(ch)
            return
        if self.mode == "csi":
            if "\x20" <= ch <= "\x3f" and len(self.csi) < CSI_LIMIT:
                self.csi += ch
                return
            self.mode = "normal"
            if not self.csi:
                self.arrow(ch)
            if ch == "~" and self.csi == "200":
                self.mode = "paste"
                self.paste = ""
            return
        if ch == "\x1b":
            self.mode = "esc"
        elif self.menu is not None:
            self.menu_key(ch, submit=submit)
        elif ch in "\r\n":
            if submit:
                self.submit()
            else:
                self.buffer += "\n"
        elif ch in "\x7f\x08":
            self.buffer = self.buffer[:-1]
        elif ch == "\x03":
            self.interrupt()
        elif ch == "\x04":
            if not self.buffer:
                raise Quit
        elif ord(ch) < 0x20 or 0x80 <= ord(ch) < 0xA0:
            pass
        else:
            self.buffer += ch

    def reset_parser(self) -> None:
        """Forget a half-read escape sequence or paste (after an error)."""
        self.mode = "normal"
        self.csi = ""
        self.paste = ""
        self.decoder.reset()

    def arrow(self, final: str) -> None:
        """Up / down (CSI or SS3 A / B) move a dialog's highlight; elsewhere they do nothing."""
        if self.menu is not None and final in "AB":
            step = -1 if final == "A" else 1
            self.menu.selected = (self.menu.selected - 1 + step) % len(PERMISSION_OPTIONS) + 1

    def menu_key(self, ch: str, *, submit: bool) -> None:
        """A key while the permission dialog is shown: typed text never reaches the input."""
        assert self.menu is not None
        if ch in "123":
            self.choose(int(ch))
        elif ch in "\r\n" and submit:
            self.choose(self.menu.selected)
        elif ch == "\x03":
            self.interrupt()

    def choose(self, number: int) -> None:
        """Answer the dialog: 1 and 2 run the command, 3 declines; the turn ends with a Stop."""
        menu = self.menu
        assert menu is not None
        if number == 3:
            self.decline()
            return
        self.menu = None
        label = PERMISSION_OPTIONS[number - 1]
        self.transcript.append("user", message={"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": menu.tool_use_id,
             "content": "stand-in permission check"}]})
        self.print_above(f"  ⎿  {DIM}chose {number}. {label}{RESET}\n"
                         f"● Bash({PERMISSION_COMMAND})\n  ⎿  stand-in permission check")
        self.end_turn(f"Ran the command: {PERMISSION_COMMAND}")

    def decline(self) -> None:
        """3 or Esc: the command is not run. The stand-in ends its turn with a Stop so a
        test sees the turn end (Claude Code instead waits for the person's instructions)."""
        menu = self.menu
        assert menu is not None
        self.menu = None
        self.transcript.append("user", message={"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": menu.tool_use_id, "is_error": True,
             "content": "The user doesn't want to proceed with this tool use."}]})
        self.print_above(f"  ⎿  {DIM}User declined to run {PERMISSION_COMMAND}{RESET}")
        self.end_turn(f"Declined: did not run {PERMISSION_COMMAND}")

    def interrupt(self) -> None:
        """Ctrl-C: clear the input; while answering, also drop the turn and the queue."""
        self.buffer = ""
        if self.turn is not None or self.menu is not None:
            self.turn = None
            self.menu = None
            self.queued.clear()
            self.transcript.user("[Request interrupted by user]")
        self.print_above(DIM + "^C (interrupted)" + RESET)

    # ---- turns --------------------------------------------------------------------------

    def submit(self) -> None:
        """Enter on the input line: record the prompt and answer it (or queue it)."""
        text = self.buffer.rstrip("\n")  # Claude Code trims the prompt it submits
        self.buffer = ""
        if not text.strip():
            return
        self.record_prompt(text)
        if text.strip() == "/exit":
            self.print_above("> " + text.replace("\n", "\n  "))
            self.hooks.fire(self.event("SessionEnd", reason="prompt_input_exit"))
            raise Quit
        if text.strip() == "/clear":
            self.clear()
            return
        self.queued.append(text)
        if self.turn is None:
            self.start_next()

    def clear(self) -> None:
        """/clear: a new conversation (new session id and transcript) on a cleared screen."""
        self.hooks.fire(self.event("SessionEnd", reason="clear"))
        self.queued.clear()
        self.turn = None
        self.opts.session_id = str(uuid.uuid4())
        self.transcript = Transcript(self.opts.state_dir / f"{self.opts.session_id}.jsonl",
                                     self.opts.session_id, self.cwd)
        self.rows_up = 0
        self.write("\x1b[3J\x1b[H\x1b[2J")
        self.banner()
        self.draw()
        self.hooks.fire(self.event("SessionStart", source="clear"))

    def record_prompt(self, text: str) -> None:
        try:
            with self.prompts_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"text": text, "at": time.time()}, ensure_ascii=False) + "\n")
                f.flush()
        except OSError as exc:
            self.log.write(f"prompts.jsonl: {exc}")

    def event(self, name: str, **fields: Any) -> dict[str, Any]:
        """The fields every hook gets, plus *fields*."""
        return {"session_id": self.opts.session_id,
                "transcript_path": str(self.transcript.path), "cwd": self.cwd,
                "permission_mode": "default", "hook_event_name": name, **fields}

    def start_next(self) -> None:
        """Begin answering the oldest queued prompt."""
        if not self.queued:
            return
        text = self.queued.popleft()
        self.print_above(BOLD + "> " + RESET + text.replace("\n", "\n  "))
        self.hooks.fire(self.event("UserPromptSubmit", prompt=text))
        self.transcript.user(text)
        delay = self.opts.reply_delay
        kind, reply = "reply", "You said: " + shown(text)
        words = text.split()
        if words and words[0] == "/sleep" and len(words) == 2:
            try:
                seconds = float(words[1])
            except ValueError:
                seconds = -1.0
            if 0 <= seconds <= 3600:
                kind, reply = "sleep", f"slept {words[1]} s"
                delay += seconds
        elif text.strip() == "/permission":
            kind, reply = "permission", ""
        self.turn = Turn(text=text, due=time.monotonic() + delay, kind=kind, reply=reply)
        self.draw()

    def finish(self) -> None:
        """The answer is ready: show it, write the transcript, fire the hooks."""
        turn = self.turn
        assert turn is not None
        self.turn = None
        if turn.kind == "permission":
            tool_use_id = "toolu_" + uuid.uuid4().hex[:24]
            self.transcript.assistant([
                {"type": "text", "text": "I need to run a command."},
                {"type": "tool_use", "id": tool_use_id, "name": "Bash",
                 "input": {"command": PERMISSION_COMMAND}}])
            self.menu = Menu(tool_use_id)
            self.print_above("● I need to run a command.\n")
            self.hooks.fire(self.event(
                "Notification", message="Claude needs your permission to use Bash",
                notification_type="permission_prompt"))
            return  # queued prompts wait until the dialog is answered
        self.end_turn(turn.reply)

    def end_turn(self, reply: str) -> None:
        """Show the reply, write the transcript, fire Stop, and take the next prompt."""
        self.transcript.assistant([{"type": "text", "text": reply}])
        self.transcript.stop_summary(self.opts.hook)
        self.print_above("● " + reply + "\n")
        fields: dict[str, Any] = {"stop_hook_active": False}
        if self.opts.last_message:
            fields["last_assistant_message"] = reply
        self.hooks.fire(self.event("Stop", **fields))
        self.start_next()

    # ---- main loop ----------------------------------------------------------------------

    def banner(self) -> None:
        about = [f"session {self.opts.session_id}", f"state {self.opts.state_dir}"]
        if self.opts.name:
            about.insert(0, self.opts.name)
        if self.opts.resume:
            about.append("continued")
        self.write(f"{BOLD}{BANNER}{RESET}\n{DIM}{' · '.join(about)}{RESET}\n\n")

    def start(self) -> None:
        """Banner, prompt, and the greeting Notification."""
        self.write("\x1b[?2004h")  # ask for bracketed paste, as Claude Code does
        self.banner()
        self.draw()
        self.log.write(f"started pid={os.getpid()} session={self.opts.session_id} "
                       f"pane={os.environ.get('TMUX_PANE', '-')}")
        start = {"argv": list(self.opts.argv), "pane": os.environ.get("TMUX_PANE"),
                 "cwd": self.cwd, "at": time.time()}
        try:
            with (self.opts.state_dir / "starts.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps(start) + "\n")
        except OSError as exc:
            self.log.write(f"starts.jsonl: {exc}")
        if self.opts.greet:
            self.hooks.fire(self.event("Notification",
                                       message="Claude is waiting for your input",
                                       notification_type="idle_prompt"))

    def loop(self) -> None:
        """Read and answer until Quit."""
        while True:
            timeout = None if self.turn is None else max(0.0, self.turn.due - time.monotonic())
            ready, _, _ = select.select([self.in_fd], [], [], timeout)
            if ready:
                data = os.read(self.in_fd, 4096)
                now = time.monotonic()
                if not data:
                    raise Quit
                try:
                    self.feed(data, now)
                except Quit:
                    raise
                except Exception:
                    self.log.write("input error: " + traceback.format_exc())
                    self.reset_parser()
                    self.draw()
            if self.turn is not None and time.monotonic() >= self.turn.due:
                try:
                    self.finish()
                except Exception:
                    self.log.write("turn error: " + traceback.format_exc())
                    self.turn = None
                    self.draw()


class RawTty:
    """Raw input (no echo, no line editing, no signals from keys), output still maps LF."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> RawTty:
        if os.isatty(self.fd):
            self.saved = termios.tcgetattr(self.fd)
            mode = termios.tcgetattr(self.fd)
            mode[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP
                         | termios.IXON | termios.INLCR | termios.IGNCR)
            mode[2] = (mode[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
            mode[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
            mode[6][termios.VMIN] = 1
            mode[6][termios.VTIME] = 0
            termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m ccr.demo.agent",
        description="A stand-in for Claude Code in a terminal: answers prompts, "
                    "writes a transcript, fires hooks.")
    parser.add_argument("--hook", metavar="CMD",
                        help="shell command run (via /bin/sh -c) for each hook event, "
                             "event JSON on stdin")
    parser.add_argument("--state-dir", metavar="DIR", type=Path,
                        help="transcript, prompts.jsonl, hook.log (default: a new temp dir)")
    parser.add_argument("--session-id", metavar="ID", help="session id (default: a uuid4)")
    parser.add_argument("--burst-ms", type=float, default=15.0, metavar="N",
                        help="an Enter this soon after other input is a newline (default 15)")
    parser.add_argument("--reply-delay", type=float, default=0.0, metavar="SECONDS",
                        help="time to 'think' before answering (default 0)")
    parser.add_argument("--no-last-message", action="store_true",
                        help="leave last_assistant_message out of Stop events")
    parser.add_argument("--no-greet", action="store_true",
                        help="no idle Notification at start")
    parser.add_argument("--name", help="shown in the banner")
    parser.add_argument("-c", "--continue", dest="resume", action="store_true",
                        help="Claude Code's flag to continue the last conversation (shown)")
    ns = parser.parse_args(argv)
    if ns.burst_ms < 0 or ns.reply_delay < 0:
        parser.error("--burst-ms and --reply-delay must not be negative")
    state_dir = ns.state_dir or Path(tempfile.mkdtemp(prefix="ccr-agent-"))
    return Options(hook=ns.hook, state_dir=state_dir.absolute(),
                   session_id=ns.session_id or str(uuid.uuid4()), burst_ms=ns.burst_ms,
                   reply_delay=ns.reply_delay, last_message=not ns.no_last_message,
                   greet=not ns.no_greet, name=ns.name, resume=ns.resume,
                   argv=tuple(sys.argv[1:] if argv is None else argv))


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent on stdin/stdout until Ctrl-D, /exit, SIGTERM or SIGHUP."""
    opts = parse_args(argv)
    agent = Agent(opts)
    drain = 3.0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    with RawTty(agent.in_fd):
        try:
            agent.start()
            agent.loop()
        except Quit:
            pass
        except SystemExit:
            drain = 0.5
        except KeyboardInterrupt:
            pass
        except Exception:
            agent.log.write("fatal: " + traceback.format_exc())
        finally:
            for sig in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            agent.write(agent.erase_area() + "\x1b[?2004l" + DIM + "bye" + RESET + "\n")
    agent.hooks.close(drain)
    agent.log.write("exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
