"""A stand-in for Claude Code that runs in a tmux pane. Standard library only.

It powers `ccr demo` and the tests: the hub types into it exactly as it types into Claude
Code, and it answers, writes a Claude-Code-style transcript and fires the same hooks.

    python -m ccr.demo.agent --hook 'ccr hook' --state-dir /tmp/agent

Input handling copies what matters of Claude Code: raw tty, UTF-8, bracketed paste, and the
Enter swallowing: an Enter that comes within ``--burst-ms`` of the previous input byte (or
together with other bytes in one read) is part of a paste and inserts a newline; only an
Enter that arrives alone after a quiet gap submits.

Like Claude Code 2.1.197 it trims trailing whitespace from the prompt it submits, takes a
backslash right before the Enter for a line break, and shows a paste of more than 800
characters as ``[Pasted text #N]`` instead of its text.

``/sleep N`` answers after N seconds. ``/steps N`` works through N tool calls first (Read, a
failing Bash, Edit, Bash, in turn), firing PreToolUse and PostToolUse (or PostToolUseFailure)
for each as Claude Code does, then answers. ``/permission`` shows Claude Code's Bash permission
dialog and ``/ask`` its AskUserQuestion menu instead of the input line (drawn line for line as
the real client draws them): a digit (or Enter on the highlighted option, moved with the
arrows) answers and the turn ends with a Stop; 3 or Esc refuses and, as in the real client, the
turn ends without a Stop. Typed text does not reach the input while a dialog is shown. As in
the real client, PermissionRequest fires when the dialog shows and the permission Notification
once no key was pressed for ``--permission-idle-s`` (6 s). ``/fail KIND`` ends the turn in an
API error (auth, rate, server) with a StopFailure instead of a Stop.
Hook events carry the real fields: a ``prompt_id`` per turn, SessionStart at start and
SessionEnd at exit; the idle Notification at start (``--no-greet`` drops it) is the stand-in's
own, so a test learns of the session before its first prompt.

``/exit`` quits (a SessionEnd hook first), ``/clear`` clears the screen and starts a new
conversation (SessionEnd with reason "clear", then SessionStart with source "clear", as Claude
Code does), and Esc while it answers interrupts the turn, as in Claude Code. ``--continue`` is
accepted (Claude Code's flag) and shown; every start is recorded in ``starts.jsonl``.

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
PASTE_COLLAPSE = 800
"""A paste longer than this shows as [Pasted text #N] (Claude Code 2.1.197)."""
FAILURES = {
    "auth": ("authentication_failed", "Invalid API key · Fix external API key"),
    "rate": ("rate_limit", "API Error: Request rejected (429) · Number of request tokens has "
                           "exceeded your rate limit."),
    "server": ("server_error", "API Error: 500 Internal server error. This is a server-side "
                               "issue, usually temporary — try again in a moment."),
}
"""/fail KIND: the StopFailure `error` and the text the real client shows for it."""


# ---- dialogs, drawn as Claude Code 2.1.197 draws them ------------------------------------

PERMISSION_FOOTER = "Esc to cancel · Tab to amend · ctrl+e to explain"
QUESTION_FOOTER = "Enter to select · ↑/↓ to navigate · Esc to cancel"
REFUSED = "Interrupted · What should Claude do instead?"
"""What the real client prints under a tool the person refused; it then waits (no Stop)."""
IDLE_NOTIFY_S = 6.0
"""The real client's permission Notification comes once the person has not pressed a key
for this long while the dialog is open (its PermissionRequest hook fires at once)."""


@dataclass
class Dialog:
    """A dialog on screen in place of the input line."""

    kind: str  # "permission" or "question"
    tool_use_id: str
    tool_input: dict[str, Any]
    labels: tuple[str, ...]
    """Every numbered option as shown."""
    answers: tuple[int, ...]
    """The options a keypress answers (the stand-in has no free-text answer)."""
    selected: int = 1

    @property
    def tool(self) -> str:
        return "Bash" if self.kind == "permission" else "AskUserQuestion"

    def move(self, step: int) -> None:
        self.selected = (self.selected - 1 + step) % len(self.labels) + 1

    def option(self, n: int) -> str:
        mark = "❯" if n == self.selected else " "
        return f"{mark} {n}. {self.labels[n - 1]}"

    def lines(self, width: int) -> list[str]:
        rule = "─" * max(width, 1)
        if self.kind == "permission":
            return [rule, " Bash command", "", f"   {self.tool_input['command']}",
                    f"   {self.tool_input.get('description', '')}", "",
                    " Do you want to proceed?",
                    *(" " + self.option(n) for n in range(1, len(self.labels) + 1)),
                    "", " " + PERMISSION_FOOTER]
        question = self.tool_input["questions"][0]
        out = [rule, f" ☐ {question['header']}", "", question["question"], ""]
        for n, option in enumerate(question["options"], 1):
            out += [self.option(n), f"     {option['description']}"]
        n = len(question["options"]) + 1
        return [*out, self.option(n), rule, self.option(n + 1), "", QUESTION_FOOTER]


def permission_dialog(tool_use_id: str, command: str, cwd_name: str) -> Dialog:
    """Claude asks to run `command` (the real client's three options for a command that
    writes in the project)."""
    return Dialog("permission", tool_use_id,
                  {"command": command, "description": "Run the command"},
                  ("Yes", f"Yes, and always allow access to {cwd_name}/ from this project",
                   "No"), (1, 2, 3))


def question_dialog(tool_use_id: str, text: str, header: str, options: list[str]) -> Dialog:
    """Claude asks a multiple-choice question (AskUserQuestion); the real client adds
    "Type something." and, under a rule, "Chat about this"."""
    tool_input = {"questions": [{
        "question": text, "header": header, "multiSelect": False,
        "options": [{"label": o, "description": f"Pick {o.lower()}"} for o in options]}]}
    return Dialog("question", tool_use_id, tool_input,
                  (*options, "Type something.", "Chat about this"),
                  tuple(range(1, len(options) + 1)))


def answered_lines(dialog: Dialog, number: int) -> str:
    """What the real client prints once an option was taken."""
    if dialog.kind == "permission":
        return (f"● Bash({dialog.tool_input['command']})\n"
                "  ⎿  stand-in permission check")
    q = dialog.tool_input["questions"][0]
    return (f"● User answered Claude's questions:\n"
            f"  ⎿  · {q['question']} → {dialog.labels[number - 1]}")


def refused_lines(dialog: Dialog) -> str:
    """What the real client prints when the person refuses (3, or Esc)."""
    if dialog.kind == "permission":
        return f"● Bash({dialog.tool_input['command']})\n  ⎿  {REFUSED}"
    q = dialog.tool_input["questions"][0]
    offered = " / ".join(o["label"] for o in q["options"])
    return f"● User declined to answer questions\n  ⎿  · {q['question']} ({offered})"


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
    kind: str  # "reply", "sleep", "permission", "ask" or "fail"
    reply: str


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
    permission_idle_s: float = IDLE_NOTIFY_S
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
        self.menu: Dialog | None = None  # a dialog replaces the input line
        self.notify_due: float | None = None  # the dialog's Notification, once idle
        self.prompt_id: str | None = None  # the turn's id, in its hook events
        self.pastes: list[tuple[int, int, int]] = []  # long pastes: (start, end, number)
        self.paste_count = 0
        self.burst_start = 0  # where in the buffer the current burst of input began

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
            plain = self.menu.lines(self.width())
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
        line = "> " + shown(self.collapsed())
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
        if quiet:
            self.burst_start = len(self.buffer)
        if self.notify_due is not None:  # a key pressed: the person is not idle
            self.notify_due = now + self.opts.permission_idle_s
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
        self.collapse_paste()
        self.draw()

    def collapse_paste(self) -> None:
        """A burst of input longer than PASTE_COLLAPSE shows as one [Pasted text #N]."""
        start, end = self.burst_start, len(self.buffer)
        if self.menu is not None or end - start <= PASTE_COLLAPSE:
            return
        if self.pastes and self.pastes[-1][0] == start:
            self.pastes[-1] = (start, end, self.pastes[-1][2])
        else:
            self.paste_count += 1
            self.pastes.append((start, end, self.paste_count))

    def collapsed(self) -> str:
        """The input as the screen shows it: long pastes as placeholders."""
        out, at = [], 0
        for start, end, number in self.pastes:
            lines = self.buffer[start:end].count("\n")
            more = f" +{lines} lines" if lines else ""
            out += [self.buffer[at:start], f"[Pasted text #{number}{more}]"]
            at = end
        return "".join([*out, self.buffer[at:]])

    def clear_input(self) -> None:
        self.buffer = ""
        self.pastes = []
        self.burst_start = 0

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
            if submit and self.buffer.endswith("\\"):
                self.buffer = self.buffer[:-1] + "\n"  # backslash + Enter: a line break
            elif submit:
                self.submit()
            else:
                self.buffer += "\n"
        elif ch in "\x7f\x08":
            if self.pastes and self.pastes[-1][1] == len(self.buffer):
                self.buffer = self.buffer[:self.pastes.pop()[0]]  # the whole placeholder
            else:
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
            self.menu.move(-1 if final == "A" else 1)

    def menu_key(self, ch: str, *, submit: bool) -> None:
        """A key while a dialog is shown: typed text never reaches the input."""
        assert self.menu is not None
        if ch.isdigit() and int(ch) in self.menu.answers:
            self.choose(int(ch))
        elif ch in "\r\n" and submit and self.menu.selected in self.menu.answers:
            self.choose(self.menu.selected)
        elif ch == "\x03":
            self.interrupt()

    def choose(self, number: int) -> None:
        """Answer the dialog: Yes runs the command, an option answers the question, and the
        turn ends with a Stop; the permission dialog's 3 refuses."""
        menu = self.menu
        assert menu is not None
        if menu.kind == "permission" and number == 3:
            self.decline()
            return
        self.menu = None
        self.notify_due = None
        if menu.kind == "permission":
            result, reply = "stand-in permission check", f"Ran the command: {PERMISSION_COMMAND}"
        else:
            asked = menu.tool_input["questions"][0]["question"]
            label = menu.labels[number - 1]
            result = f'User has answered your questions: "{asked}"="{label}".'
            reply = f"You chose {label}."
        self.transcript.append("user", message={"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": menu.tool_use_id, "content": result}]})
        self.print_above(answered_lines(menu, number))
        self.end_turn(reply)

    def decline(self) -> None:
        """3 or Esc: the tool is not run and, as in Claude Code, the turn ends without a
        Stop: Claude waits for the person's next words."""
        menu = self.menu
        assert menu is not None
        self.menu = None
        self.notify_due = None
        self.transcript.append("user", message={"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": menu.tool_use_id, "is_error": True,
             "content": "The user doesn't want to proceed with this tool use."}]})
        self.transcript.user("[Request interrupted by user for tool use]")
        self.print_above(refused_lines(menu) + "\n")
        self.start_next()

    def interrupt(self) -> None:
        """Ctrl-C: clear the input; while answering, also drop the turn and the queue."""
        self.clear_input()
        self.notify_due = None
        if self.turn is not None or self.menu is not None:
            self.turn = None
            self.menu = None
            self.queued.clear()
            self.transcript.user("[Request interrupted by user]")
        self.print_above(DIM + "^C (interrupted)" + RESET)

    # ---- turns --------------------------------------------------------------------------

    def submit(self) -> None:
        """Enter on the input line: record the prompt and answer it (or queue it)."""
        text = self.buffer.rstrip()  # Claude Code trims the end of the prompt it submits
        self.clear_input()
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
        """The fields a hook gets, plus *fields*: as Claude Code 2.1.197 sends them, the
        turn's prompt_id on all but SessionStart, permission_mode on some."""
        out: dict[str, Any] = {"session_id": self.opts.session_id,
                               "transcript_path": str(self.transcript.path), "cwd": self.cwd}
        if self.prompt_id is not None and name != "SessionStart":
            out["prompt_id"] = self.prompt_id
        if name in ("UserPromptSubmit", "Stop", "PermissionRequest"):
            out["permission_mode"] = "default"
        return {**out, "hook_event_name": name, **fields}

    def start_next(self) -> None:
        """Begin answering the oldest queued prompt."""
        if not self.queued:
            return
        text = self.queued.popleft()
        self.prompt_id = str(uuid.uuid4())
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
        elif len(words) == 2 and words[0] == "/steps" and words[1].isdigit():
            count = min(int(words[1]), 200)
            self.work(count)
            reply = f"Did {count} steps."
        elif text.strip() in ("/permission", "/ask"):
            kind, reply = text.strip()[1:], ""
        elif len(words) == 2 and words[0] == "/fail" and words[1] in FAILURES:
            kind, reply = "fail", words[1]
        self.turn = Turn(text=text, due=time.monotonic() + delay, kind=kind, reply=reply)
        self.draw()

    STEPS = (("Read", {"file_path": "README.md"}, None),
             ("Bash", {"command": "pytest -q", "description": "Run the tests"}, "Exit code 1"),
             ("Edit", {"file_path": "cart.py", "old_string": "a", "new_string": "b"}, None),
             ("Bash", {"command": "pytest -q", "description": "Run the tests"}, None))

    def work(self, count: int) -> None:
        """Claude's tool calls of a turn: their hooks, as the real client fires them."""
        for n in range(count):
            tool, tool_input, error = self.STEPS[n % len(self.STEPS)]
            if "file_path" in tool_input:
                tool_input = {**tool_input, "file_path": str(Path(self.cwd) /
                                                             tool_input["file_path"])}
            call = {"tool_name": tool, "tool_input": tool_input,
                    "tool_use_id": "toolu_" + uuid.uuid4().hex[:24]}
            self.hooks.fire(self.event("PreToolUse", **call))
            if error is None:
                self.hooks.fire(self.event("PostToolUse", **call, tool_response={
                    "stdout": "3 passed", "stderr": "", "interrupted": False}))
            else:
                self.hooks.fire(self.event("PostToolUseFailure", **call, error=error,
                                           is_interrupt=False))

    def finish(self) -> None:
        """The answer is ready: show it (or a dialog), write the transcript, fire the hooks."""
        turn = self.turn
        assert turn is not None
        self.turn = None
        if turn.kind == "fail":
            self.fail(turn.reply)
        elif turn.kind in ("permission", "ask"):
            self.open_dialog(turn.kind)  # queued prompts wait until it is answered
        else:
            self.end_turn(turn.reply)

    def open_dialog(self, kind: str) -> None:
        """Claude asks (a tool needs permission, or a question): PermissionRequest now, the
        permission Notification once the person has been idle for a while."""
        tool_use_id = "toolu_" + uuid.uuid4().hex[:24]
        if kind == "permission":
            dialog = permission_dialog(tool_use_id, PERMISSION_COMMAND, Path(self.cwd).name)
            said = "I need to run a command."
        else:
            dialog = question_dialog(tool_use_id, "Which colour should the button be?",
                                      "Colour", ["Red", "Blue"])
            said = "I have a question."
        self.transcript.assistant([
            {"type": "text", "text": said},
            {"type": "tool_use", "id": tool_use_id, "name": dialog.tool,
             "input": dialog.tool_input}])
        self.menu = dialog
        self.print_above(f"● {said}\n")
        self.hooks.fire(self.event("PermissionRequest", tool_name=dialog.tool,
                                   tool_input=dialog.tool_input, permission_suggestions=[]))
        self.notify_due = time.monotonic() + self.opts.permission_idle_s

    def notify_waiting(self) -> None:
        """The dialog has been open with no key pressed for a while: tell the hooks."""
        self.notify_due = None
        if self.menu is not None:
            self.hooks.fire(self.event("Notification", message="Claude needs your permission",
                                       notification_type="permission_prompt"))

    def fail(self, kind: str) -> None:
        """The turn ends in an API error: the real client's text, and StopFailure, no Stop."""
        error, message = FAILURES[kind]
        self.transcript.assistant([{"type": "text", "text": message}])
        self.print_above(("  ⎿  " if kind == "auth" else "● ") + message + "\n")
        self.hooks.fire(self.event("StopFailure", error=error, last_assistant_message=message))
        self.start_next()

    def end_turn(self, reply: str) -> None:
        """Show the reply, write the transcript, fire Stop, and take the next prompt."""
        self.transcript.assistant([{"type": "text", "text": reply}])
        self.transcript.stop_summary(self.opts.hook)
        self.print_above("● " + reply + "\n")
        fields: dict[str, Any] = {"stop_hook_active": False}
        if self.opts.last_message:
            fields["last_assistant_message"] = reply
        self.hooks.fire(self.event("Stop", **fields, background_tasks=[], session_crons=[]))
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
        self.hooks.fire(self.event("SessionStart", source="startup", model="stand-in"))
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
            dues = [d for d in (self.turn.due if self.turn else None, self.notify_due)
                    if d is not None]
            timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
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
            if self.notify_due is not None and time.monotonic() >= self.notify_due:
                self.notify_waiting()
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
    parser.add_argument("--permission-idle-s", type=float, default=IDLE_NOTIFY_S,
                        metavar="SECONDS",
                        help="a dialog's Notification fires once no key was pressed for this "
                             f"long (default {IDLE_NOTIFY_S:g}, as Claude Code)")
    parser.add_argument("-c", "--continue", dest="resume", action="store_true",
                        help="Claude Code's flag to continue the last conversation (shown)")
    ns = parser.parse_args(argv)
    if ns.burst_ms < 0 or ns.reply_delay < 0 or ns.permission_idle_s < 0:
        parser.error("--burst-ms, --reply-delay and --permission-idle-s must not be negative")
    state_dir = ns.state_dir or Path(tempfile.mkdtemp(prefix="ccr-agent-"))
    return Options(hook=ns.hook, state_dir=state_dir.absolute(),
                   session_id=ns.session_id or str(uuid.uuid4()), burst_ms=ns.burst_ms,
                   reply_delay=ns.reply_delay, last_message=not ns.no_last_message,
                   greet=not ns.no_greet, name=ns.name,
                   permission_idle_s=ns.permission_idle_s, resume=ns.resume,
                   argv=tuple(sys.argv[1:] if argv is None else argv))


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent on stdin/stdout until Ctrl-D, /exit, SIGTERM or SIGHUP."""
    opts = parse_args(argv)
    agent = Agent(opts)
    drain = 3.0
    reason = "other"  # SessionEnd's, as Claude Code gives it: a killed pane is "other"
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    with RawTty(agent.in_fd):
        try:
            agent.start()
            agent.loop()
        except Quit:
            reason = "prompt_input_exit"
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
    agent.hooks.fire(agent.event("SessionEnd", reason=reason))
    agent.hooks.close(drain)
    agent.log.write("exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
