"""Claude Code hook: tell the ccr hub what Claude is doing. Standard library only.

Runs as `ccr hook` or, on a server without ccr, as `python3 hook.py`; `--print-settings`
prints the `hooks` block for Claude Code's settings.json with the fastest command for this
interpreter. Claude Code pipes the event JSON on stdin.

Claude waits for every run (a UserPromptSubmit hook delays the prompt itself), so a run does
as little as it can: it reads stdin, writes the event to a local spool (fsync'd) and hands
the rest to a detached child, then exits 0. It imports only what that needs (no `json`,
`re`, `subprocess` or HTTP modules: those cost more than the rest of the run), prints
nothing, and never exits non-zero. Before it forks, it points its stdin, stdout and stderr at
/dev/null, so Claude's pipes close when the run exits.

The child (in its own session) adds what takes time: the tmux session name, and the reply
from the transcript for clients that do not send `last_assistant_message`. Then it sends the
spool oldest first, its own event included, and keeps listing it until it is empty or the
child's deadline passes. Each spooled file is flock'd by whoever is sending it, from the
moment the run writes it until it is sent (the lock passes to the child with the fork), so
no two processes send one event and no event is sent before its child has completed it.
A file that another process holds is waited for, which keeps the order; a sent file is
removed. If the hub does not take an event now, it stays spooled and the next run, or
`ccr hook --flush`, sends it; the hub drops a repeat of an `event_id`.

Claude's steps (PreToolUse, PostToolUse, PostToolUseFailure, SubagentStart) come once per
tool call, so they are forwarded small: the tool's name, a short subject (`tool_summary`),
the call's id and whether it failed with the error's first line; never the tool's output.

Settings come from the environment, falling back to a KEY=VALUE file
(`~/.config/ccr/hook.env`, or the path in CCR_HOOK_ENV), because Claude Code's own
environment often lacks the user's shell exports:
  CCR_HUB_URL        the hub, e.g. http://127.0.0.1:8765
  CCR_SERVER_ID      this machine's server id in the hub's ccr.toml
  CCR_SHARED_SECRET  signs each event (HMAC-SHA256 over timestamp and body)
  CCR_SPOOL_DIR      optional; default $XDG_STATE_HOME/ccr/spool (~/.local/state/ccr/spool)
The hook's log and prompt memory live in $XDG_STATE_HOME/ccr (default ~/.local/state/ccr).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time: it costs the run a few ms
    from pathlib import Path
    from typing import Any, NoReturn

DEADLINE_S = 1.7  # a run that must send inline (no fork): Claude waits on it
CHILD_DEADLINE_S = 10.0  # the detached child: nobody waits on it
FLUSH_DEADLINE_S = 60.0  # `ccr hook --flush`, run by a person
REQUEST_TIMEOUT_S = 3.0
REPLY_WAIT_S = 0.5  # Stop can fire before the reply reaches the transcript
STDIN_WAIT_S = 0.5
STDIN_LIMIT = 1024 * 1024
TRANSCRIPT_TAIL = 4 * 1024 * 1024
TEXT_LIMIT = 16_000
FIELD_LIMIT = 200  # prompt_id, error, reason, source, tool_name
TOOL_INPUT_LIMIT = 500
SPOOL_LIMIT = 1000
TOOL_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "SubagentStart")
"""Claude's steps, shown live on a command's message; frequent, so forwarded small."""
HANDLED = ("Stop", "SubagentStop", "Notification", "UserPromptSubmit", "StopFailure",
           "SessionStart", "SessionEnd", "PermissionRequest", *TOOL_EVENTS)
TURN_ENDS = ("Stop", "SubagentStop", "StopFailure")
KEEP = ("session_id", "cwd", "transcript_path", "permission_mode", "message",
        "notification_type", "title", "agent_type", "agent_id")
SHORT_FIELDS = ("prompt_id", "reason", "source", "tool_use_id")
PATH_TOOLS = ("Edit", "Write", "Read", "MultiEdit", "NotebookEdit")
NOT_PROMPTS = (
    "<command-name>", "<command-message>", "<command-args>", "<local-command-stdout>",
    "Caveat:", "[Request interrupted by user", "Stop hook feedback:",
    "This session is being continued from a previous conversation",
)
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_WS = " \t\n\r"
_T0 = time.monotonic()


def _left() -> float:
    return DEADLINE_S - (time.monotonic() - _T0)


def state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "ccr")


def log(msg: str) -> None:
    """Append to the hook's own log; never raise."""
    try:
        directory = state_dir()
        path = os.path.join(directory, "hook.log")
        try:
            if os.stat(path).st_size > 1_000_000:
                os.replace(path, path + ".1")
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {msg}\n")
    except OSError:
        pass


def load_env() -> dict[str, str]:
    """CCR_* settings: the environment wins over the hook.env file."""
    merged: dict[str, str] = {}
    env_file = os.environ.get("CCR_HOOK_ENV") or os.path.join(
        os.path.expanduser("~"), ".config", "ccr", "hook.env")
    try:
        with open(env_file, encoding="utf-8") as f:
            for line in f.read().splitlines():
                key, sep, value = line.strip().partition("=")
                if sep and key.startswith("CCR_"):
                    merged[key.strip()] = value.strip().strip("'\"")
    except (OSError, UnicodeDecodeError):
        pass
    merged.update({k: v for k, v in os.environ.items() if k.startswith("CCR_") and v})
    return merged


def read_stdin(timeout: float = STDIN_WAIT_S) -> bytes:
    """All of stdin, bounded in size and time (a never-closed stdin must not hang us)."""
    import select

    fd = 0
    chunks: list[bytes] = []
    size = 0
    end = time.monotonic() + timeout
    try:
        while size < STDIN_LIMIT:
            wait = end - time.monotonic()
            if wait <= 0:
                break
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, ValueError):
        pass  # no stdin at all
    return b"".join(chunks)


# --- JSON without the json package -------------------------------------------------------
# `import json` pulls in `re` and costs a run more than everything else it does; the C
# scanner and encoder json uses are in `_json`. Anything unexpected falls back to json.


class _ScanContext:
    """The settings `_json.make_scanner` reads: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


def loads(text: str) -> Any:
    """json.loads(text), via the C scanner; ValueError when it is not one JSON value."""
    try:
        import _json

        scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
    except Exception:
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = scan(text, start)
    except StopIteration:
        raise ValueError("not JSON") from None
    if text[end:].strip(_WS):
        raise ValueError("extra data after the JSON value")
    return value


def _not_json(obj: object) -> NoReturn:
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, ascii_only: bool = False) -> str:
    """Compact json.dumps(obj), via the C encoder."""
    try:
        import _json

        escape = _json.encode_basestring_ascii if ascii_only else _json.encode_basestring
        encoder = _json.make_encoder(
            None, _not_json, escape, None, ":", ",", False, False, True)
    except Exception:
        import json

        return json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":"))
    return "".join(encoder(obj, 0))


def encode(obj: Any) -> bytes:
    """UTF-8 JSON; a lone surrogate (a JSON `\\ud800` escape) is kept escaped."""
    try:
        return dumps(obj).encode("utf-8")
    except UnicodeEncodeError:
        return dumps(obj, ascii_only=True).encode("ascii")


# --- text --------------------------------------------------------------------------------


def clean(text: str | None) -> str | None:
    """Without <system-reminder> blocks, trimmed, capped; None when nothing is left."""
    if not text:
        return None
    while True:
        start = text.find("<system-reminder>")
        if start < 0:
            break
        end = text.find("</system-reminder>", start)
        if end < 0:
            break
        text = text[:start] + text[end + len("</system-reminder>"):]
    return text.strip()[:TEXT_LIMIT] or None


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_summary(tool: str, tool_input: Any) -> str | None:
    """A short line for a tool call: Bash's command, a file tool's path, else compact JSON."""
    if tool_input is None:
        return None
    if isinstance(tool_input, dict):
        if tool == "Bash" and isinstance(tool_input.get("command"), str):
            return _cap(tool_input["command"], TOOL_INPUT_LIMIT)
        if tool in PATH_TOOLS:
            for key in ("file_path", "notebook_path"):
                if isinstance(tool_input.get(key), str):
                    return _cap(tool_input[key], TOOL_INPUT_LIMIT)
    if isinstance(tool_input, str):
        return _cap(tool_input, TOOL_INPUT_LIMIT)
    try:
        return _cap(dumps(tool_input), TOOL_INPUT_LIMIT)
    except (TypeError, ValueError, RecursionError):
        return None


# --- prompt memory ------------------------------------------------------------------------


def _prompt_memory(session_id: str) -> str:
    safe = "".join(c if c in _SAFE else "_" for c in session_id)[:100]
    return os.path.join(state_dir(), "prompts", safe)


def remember_prompt(event: dict[str, Any]) -> None:
    """UserPromptSubmit: keep the exact prompt for this Claude session's next Stop."""
    sid, prompt = event.get("session_id"), event.get("prompt")
    if not (isinstance(sid, str) and isinstance(prompt, str)):
        return
    path = _prompt_memory(sid)
    try:
        try:
            f = open(path, "w", encoding="utf-8")  # noqa: SIM115
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            f = open(path, "w", encoding="utf-8")  # noqa: SIM115
        with f:
            f.write(prompt[:TEXT_LIMIT])
    except (OSError, UnicodeEncodeError):
        pass


def remembered_prompt(session_id: object) -> str | None:
    if not isinstance(session_id, str):
        return None
    try:
        with open(_prompt_memory(session_id), encoding="utf-8") as f:
            return f.read() or None
    except (OSError, UnicodeDecodeError):
        return None


# --- the event -------------------------------------------------------------------------------


def _uuid4() -> str:
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def tmux_env() -> dict[str, str | None]:
    """Pane id and socket of the pane this Claude runs in, from the environment."""
    pane = os.environ.get("TMUX_PANE") or None
    tmux = os.environ.get("TMUX", "")
    socket = (tmux.split(",", 1)[0] or None) if tmux else None
    return {"pane_id": pane, "socket": socket, "session_name": None}


def build_event(raw: dict[str, Any], server_id: str) -> dict[str, Any]:
    """The event as posted, from stdin and the environment alone (what is quick to know)."""
    name = str(raw.get("hook_event_name") or "")
    event: dict[str, Any] = {k: raw[k] for k in KEEP if isinstance(raw.get(k), str)}
    prompt: str | None = None
    reply: str | None = None
    if name == "UserPromptSubmit" and isinstance(raw.get("prompt"), str):
        prompt = raw["prompt"][:TEXT_LIMIT]
    elif name in TURN_ENDS:
        message = raw.get("last_assistant_message")
        reply = clean(message) if isinstance(message, str) else None
        prompt = clean(remembered_prompt(raw.get("session_id")))
    for key in SHORT_FIELDS:
        if isinstance(raw.get(key), str):
            event[key] = raw[key][:FIELD_LIMIT]
    error = raw.get("error")
    if name == "PostToolUseFailure":  # a tool's own error text, not an API error kind
        event["tool_failed"] = True
        if isinstance(error, str) and error.strip():
            event["tool_error"] = _cap(error.strip().split("\n", 1)[0], FIELD_LIMIT)
        error = None
    elif name == "PostToolUse":  # never the tool_response itself: only whether it failed
        response = raw.get("tool_response")
        if isinstance(response, dict) and (response.get("is_error") is True
                                           or response.get("interrupted") is True):
            event["tool_failed"] = True
    if isinstance(error, dict):  # not seen, but the field's shape is not documented
        error = error.get("type") or error.get("kind") or error.get("code")
    if isinstance(error, str) and error:
        event["error"] = error[:FIELD_LIMIT]
    tool = raw.get("tool_name")
    if isinstance(tool, str) and tool:
        event["tool_name"] = tool[:FIELD_LIMIT]
        summary = tool_summary(tool, raw.get("tool_input"))
        if summary is not None:
            event["tool_input"] = summary
    event.update({
        "event_id": _uuid4(),
        "server_id": server_id,
        "hook_event_name": name,
        "tmux": tmux_env(),
        "last_prompt": prompt,
        "last_reply": reply,
        "created_at": time.time(),
        "traceparent": f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01",
    })
    if not event.get("cwd"):
        event["cwd"] = os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    return event


# --- what the child adds ------------------------------------------------------------------------


def tmux_session_name(pane: str, socket: str | None) -> str | None:
    import subprocess

    argv = ["tmux", *(["-S", socket] if socket else []),
            "display-message", "-p", "-t", pane, "#{session_name}"]
    try:
        out = subprocess.run(argv, capture_output=True, timeout=0.5, check=False,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.decode("utf-8", "replace").strip() or None


def _tail_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records at the end of a transcript, read from its end."""
    import json

    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            start = max(0, size - TRANSCRIPT_TAIL)
            f.seek(start)
            data = f.read()
    except OSError:
        return []
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first line is probably cut
    out = []
    for line in lines:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text", "") for b in content
                 if isinstance(b, dict) and b.get("type") == "text"]
        return "\n".join(p for p in parts if p)
    return ""


def _is_prompt(rec: dict[str, Any]) -> bool:
    if rec.get("type") != "user" or rec.get("isSidechain") or rec.get("isMeta"):
        return False
    content = (rec.get("message") or {}).get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return False
    text = _content_text(content).strip()
    return bool(text) and not text.startswith(NOT_PROMPTS)


def transcript_turn(path: Path) -> tuple[str | None, str | None]:
    """(last real prompt, Claude's reply after it) from the transcript."""
    records = _tail_records(path)
    prompt: str | None = None
    reply_parts: list[str] = []
    for rec in reversed(records):
        if rec.get("isSidechain"):
            continue
        if rec.get("type") == "assistant":
            text = _content_text((rec.get("message") or {}).get("content"))
            if text and prompt is None:
                reply_parts.append(text)
        elif _is_prompt(rec):
            prompt = _content_text((rec.get("message") or {}).get("content"))
            break
    reply = "\n\n".join(reversed(reply_parts)) if reply_parts else None
    return prompt, reply


def complete(event: dict[str, Any]) -> None:
    """Add what needs a subprocess or the transcript: run by the child, not by Claude's wait."""
    tmux = event.get("tmux") or {}
    if tmux.get("pane_id") and not tmux.get("session_name"):
        tmux["session_name"] = tmux_session_name(tmux["pane_id"], tmux.get("socket"))
    name = event.get("hook_event_name")
    tpath = event.get("transcript_path")
    if name not in ("Stop", "SubagentStop") or not tpath:
        return
    if event.get("last_reply") and event.get("last_prompt"):
        return
    from pathlib import Path

    path = Path(tpath).expanduser()
    want_reply = not event.get("last_reply")
    while True:
        t_prompt, t_reply = transcript_turn(path)
        if not want_reply or t_reply or time.monotonic() - _T0 > REPLY_WAIT_S:
            break
        time.sleep(0.1)  # Stop can fire before the reply reaches the file
    event["last_prompt"] = event.get("last_prompt") or clean(t_prompt)
    event["last_reply"] = event.get("last_reply") or clean(t_reply)


# --- spool ------------------------------------------------------------------------------------


def spool_dir(env: dict[str, str]) -> str:
    return os.path.expanduser(env.get("CCR_SPOOL_DIR") or os.path.join(state_dir(), "spool"))


class Spooled:
    """An event this run wrote, its file held locked until it is sent or left for later."""

    def __init__(self, event: dict[str, Any], fd: int, path: str, body: bytes) -> None:
        self.event, self.fd, self.path, self.body = event, fd, path, body
        self.written = body

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def update(self) -> None:
        self.body = encode(self.event)

    def release(self) -> None:
        """Keep what the child added for whoever sends it later, then let go of the file."""
        if self.fd < 0:
            return
        try:
            if self.body != self.written and os.path.exists(self.path):
                directory = os.path.dirname(self.path)
                fd, _ = _write_locked(directory, self.name, self.body)
                os.close(fd)
                _sync_dir(directory)
        except OSError as exc:
            log(f"could not keep {self.name} completed: {exc}")
        finally:
            os.close(self.fd)
            self.fd = -1


def _lock(fd: int, block: bool) -> bool:
    """flock the file; False only when another process holds it. Where flock is missing or
    refused (some network file systems), go on unlocked: at worst an event is sent twice,
    and the hub drops the repeat."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except (ImportError, OSError):
        pass
    return True


def _write_locked(directory: str, name: str, body: bytes) -> tuple[int, str]:
    """Write *body* as *directory*/*name* atomically and durably; its fd, flock'd, and path."""
    tmp = os.path.join(directory, f".{name}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileNotFoundError:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(tmp, flags, 0o600)
    try:
        _lock(fd, block=True)  # nobody else knows the name yet: never waits
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)  # the data is on disk before the name appears
        path = os.path.join(directory, name)
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        try:  # noqa: SIM105 (contextlib is one more import on Claude's wait)
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return fd, path


def spool_locked(event: dict[str, Any], directory: str) -> Spooled:
    """Write the event to the spool; the returned file stays flock'd by this process."""
    name = f"{time.time_ns():020d}-{event['event_id']}.json"
    body = encode(event)
    fd, path = _write_locked(directory, name, body)
    return Spooled(event, fd, path, body)


def spool(event: dict[str, Any], directory: str | Path) -> Path:
    """Write the event to the spool and let go of it: the next sender takes it."""
    from pathlib import Path

    spooled = spool_locked(event, str(directory))
    os.close(spooled.fd)
    return Path(spooled.path)


def _sync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _listing(directory: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(directory)
                      if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return []


def _reject(path: str) -> None:
    try:
        dest = os.path.join(os.path.dirname(path), "rejected")
        os.makedirs(dest, exist_ok=True)
        os.replace(path, os.path.join(dest, os.path.basename(path)))
    except OSError:
        pass


def _tidy(directory: str, names: list[str]) -> None:
    """Keep the spool bounded; remove temporary files a killed run left behind."""
    for name in names[: max(0, len(names) - SPOOL_LIMIT)]:
        path = os.path.join(directory, name)
        fd = _open_locked(path, wait=False)
        if fd is not None:
            log(f"spool full: dropping {name}")
            _reject(path)
            os.close(fd)
    try:
        stale = time.time() - 3600
        for entry in os.scandir(directory):
            if entry.name.endswith(".tmp") and entry.stat().st_mtime < stale:
                os.unlink(entry.path)
    except OSError:
        pass


def _open_locked(path: str, wait: bool = True) -> int | None:
    """The spooled file, flock'd by us, or None: gone, sent meanwhile, or held past the
    deadline (or at all, without *wait*)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    pause = 0.002
    try:
        while not _lock(fd, block=False):
            if not wait or _left() < 0.1:
                os.close(fd)
                return None
            time.sleep(pause)  # another process is sending it: it will be gone soon
            pause = min(pause * 1.5, 0.05)
        if os.fstat(fd).st_nlink == 0:  # sent (or rewritten) while we waited
            os.close(fd)
            return None
    except OSError:
        os.close(fd)
        return None
    return fd


def _read_fd(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


# --- send -----------------------------------------------------------------------------------------


def _sha256() -> Any:
    """The sha256 constructor, from the small C module hashlib wraps when there is one
    (hashlib loads OpenSSL and more: a few ms of the child's time)."""
    for module in ("_sha2", "_sha256"):  # 3.12+, 3.11 and older
        try:
            return __import__(module).sha256
        except (ImportError, AttributeError):
            pass
    import hashlib

    return hashlib.sha256


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 (RFC 2104) over `timestamp.body`, as hmac.new(...).hexdigest()."""
    sha256 = _sha256()
    key = secret.encode("utf-8")
    if len(key) > 64:
        key = sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = sha256(bytes(b ^ 0x36 for b in key) + timestamp.encode("ascii") + b"." + body)
    outer = sha256(bytes(b ^ 0x5C for b in key) + inner.digest())
    return "sha256=" + str(outer.hexdigest())


def split_url(url: str) -> tuple[bool, str, int, str]:
    """(https?, host, port, path prefix) of the hub's URL, without urllib (and its `re`)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        scheme, rest = "http", url.strip()
    https = scheme.lower() == "https"
    hostport, slash, path = rest.partition("/")
    hostport = hostport.rpartition("@")[2]
    if hostport.startswith("["):  # [::1]:8765
        host, _, port = hostport[1:].partition("]")
        port = port[1:]
    else:
        host, _, port = hostport.partition(":")
    return https, host or "127.0.0.1", int(port) if port else (443 if https else 80), (
        "/" + path).rstrip("/") if slash else ""


class HubClient:
    """POSTs to the hub's /notify over one kept-open HTTP/1.1 connection, written by hand
    on a plain socket: http.client and urllib cost the child ~40 ms of imports (email, re,
    enum), which on a busy machine delays every event behind it. https adds ssl."""

    def __init__(self, url: str, secret: str) -> None:
        self.https, self.host, self.port, prefix = split_url(url)
        self.path = prefix + "/notify"
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.https else 80
        self.netloc = netloc if self.port == default else f"{netloc}:{self.port}"
        self.secret = secret
        self.sock: Any = None

    def _open(self, timeout: float) -> Any:
        if self.https:
            import socket
            import ssl

            raw = socket.create_connection((self.host, self.port), timeout=timeout)
            try:
                return ssl.create_default_context().wrap_socket(raw,
                                                                server_hostname=self.host)
            except BaseException:
                raw.close()
                raise
        try:
            import _socket as sockets  # socket.py itself imports enum: ~10 ms more
        except ImportError:
            import socket as sockets  # type: ignore[no-redef]
        error: OSError = OSError(f"no address for {self.host}")
        # A str host goes through the idna codec (and `re`); an ASCII one needs no codec.
        host: str | bytes = self.host.encode("ascii") if self.host.isascii() else self.host
        for family, kind, proto, _, addr in sockets.getaddrinfo(
                host, self.port, 0, sockets.SOCK_STREAM):
            sock = sockets.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(addr)
                sock.setsockopt(sockets.IPPROTO_TCP, sockets.TCP_NODELAY, 1)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    def connect(self, timeout: float) -> None:
        """Open the connection now (imports, DNS, TCP), before waiting on anyone's lock."""
        if self.sock is None:
            try:
                self.sock = self._open(timeout)
            except (OSError, ValueError):
                self.close()

    def _exchange(self, request: bytes, timeout: float) -> int:
        """Send one request, read its response; the status. OSError on any failure."""
        if self.sock is None:
            self.sock = self._open(timeout)
        self.sock.settimeout(timeout)
        self.sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk or len(data) > 65536:
                raise OSError("the hub closed the connection without an answer")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            raise OSError(f"not an HTTP answer: {lines[0][:60]!r}") from None
        length: int | None = None
        close = lines[0].startswith(b"HTTP/1.0")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length" and value.isdigit():
                length = int(value)
            elif (name == b"connection" and value == b"close") or name == b"transfer-encoding":
                close = True  # no reuse: or we would have to read a chunked body
        if length is None:
            close = True
        else:
            while len(rest) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    close = True
                    break
                rest += chunk
        if close:
            self.close()
        return status

    def post(self, body: bytes, traceparent: str | None, timeout: float) -> int:
        """The HTTP status, or 0 when the hub could not be reached."""
        ts = str(int(time.time()))
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.netloc}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"X-CCR-Timestamp: {ts}\r\nX-CCR-Signature: {sign(self.secret, ts, body)}\r\n")
        if traceparent and traceparent.isascii() and traceparent.isprintable():
            head += f"traceparent: {traceparent}\r\n"
        request = (head + "\r\n").encode("latin-1") + body
        for _ in range(2):
            reused = self.sock is not None
            try:
                return self._exchange(request, timeout)
            except (OSError, ValueError, UnicodeError):
                self.close()
                if not reused:  # a kept-open connection may have been closed by the hub
                    return 0
        return 0

    def close(self) -> None:
        if self.sock is not None:
            try:  # noqa: SIM105
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def _traceparent(body: bytes) -> str | None:
    """The spooled event's traceparent; ValueError when the file is not an event."""
    event = loads(body.decode("utf-8"))
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    trace = event.get("traceparent")
    return trace if isinstance(trace, str) else None


def flush(env: dict[str, str], directory: str | Path,
          own: Spooled | None = None) -> tuple[int, int]:
    """Send the spool oldest first until it is empty or the deadline passes; the event this
    run holds (*own*) goes in its turn. Returns (sent, still spooled)."""
    directory = str(directory)
    url, secret = env.get("CCR_HUB_URL", ""), env.get("CCR_SHARED_SECRET", "")
    hub: HubClient | None = None
    sent = 0
    misses: dict[str, int] = {}

    def relist() -> list[str]:
        return [n for n in _listing(directory) if misses.get(n, 0) < 3]

    try:
        names = _listing(directory)
        if not (url and secret):
            return 0, len(names)
        hub = HubClient(url, secret)
        _tidy(directory, names)
        if names:
            hub.connect(max(0.05, min(REQUEST_TIMEOUT_S, _left() - 0.05)))
        while names and _left() > 0.1:
            name = names[0]
            path = os.path.join(directory, name)
            mine = own is not None and name == own.name
            if mine:
                assert own is not None
                fd, body = own.fd, own.body
            else:
                got = _open_locked(path)
                if got is None:  # sent meanwhile, rewritten, or held past our deadline
                    if _left() <= 0.1:
                        break
                    misses[name] = misses.get(name, 0) + 1  # unreadable: not forever
                    names = relist()
                    continue
                fd = got
                body = _read_fd(fd)
            try:
                trace = own.event.get("traceparent") if mine and own else _traceparent(body)
            except (ValueError, UnicodeDecodeError):
                log(f"{name} is not an event; moved to rejected/")
                _reject(path)
                os.close(fd)
                names = relist()
                continue
            status = hub.post(body, trace, max(0.05, min(REQUEST_TIMEOUT_S, _left() - 0.05)))
            if 200 <= status < 300:
                try:  # noqa: SIM105
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                sent += 1
            elif status in (400, 413, 422):
                log(f"hub rejected {name} ({status}); moved to rejected/")
                _reject(path)
            else:
                log(f"hub {'unreachable' if status == 0 else f'answered {status}'}; "
                    f"{name} stays spooled")
                if not mine:
                    os.close(fd)
                break
            if mine:
                assert own is not None
                os.close(own.fd)
                own.fd = -1
                own = None
            else:
                os.close(fd)
            names = relist()
    finally:
        if hub is not None:
            hub.close()
        if own is not None:
            own.release()
    return sent, len(_listing(directory))


# --- settings ----------------------------------------------------------------------------------


def settings_snippet(command: str) -> dict[str, Any]:
    """The `hooks` block for Claude Code's settings.json."""
    def entry(timeout: int, matcher: bool = False) -> list[dict[str, Any]]:
        hook = {"type": "command", "command": command, "timeout": timeout}
        block: dict[str, Any] = {"hooks": [hook]}
        if matcher:
            block = {"matcher": "", **block}
        return [block]

    return {"hooks": {
        "Stop": entry(10), "SubagentStop": entry(10), "Notification": entry(10, matcher=True),
        "UserPromptSubmit": entry(5), "StopFailure": entry(10), "SessionStart": entry(10),
        "SessionEnd": entry(5), "PermissionRequest": entry(10, matcher=True),
        "PreToolUse": entry(5, matcher=True), "PostToolUse": entry(5, matcher=True),
        "PostToolUseFailure": entry(5, matcher=True), "SubagentStart": entry(5, matcher=True),
    }}


def default_command() -> str:
    """This interpreter running this file from its directory (see `fast_command`)."""
    return fast_command(sys.executable or "python3", os.path.dirname(os.path.abspath(__file__)))


def fast_command(python: str, directory: str) -> str:
    """`python` without site (-S: no site-packages, no .pth files) and isolated (-I: no
    PYTHON* variables, no cwd on sys.path), importing hook.py from `directory`, so its
    bytecode is cached instead of compiled on every run."""
    import shlex

    literal = '"' + directory.replace("\\", "\\\\").replace('"', '\\"') + '"'
    code = f"import sys;sys.path.append({literal});import hook;hook.run()"
    return f"{shlex.quote(python)} -I -S -c {shlex.quote(code)}"


# --- the run ------------------------------------------------------------------------------------


def _detach() -> bool:
    """Fork a child in its own session with stdin/stdout/stderr on /dev/null (so Claude's
    pipes close when this process exits). True in the child, False in the parent."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    if os.fork():
        return False
    os.setsid()
    return True


def _has_backlog(directory: str) -> bool:
    try:
        return any(n.endswith(".json") and not n.startswith(".") for n in os.listdir(directory))
    except OSError:
        return False


def run_event(stdin: bytes, env: dict[str, str]) -> None:
    """Spool the event, then send it and any backlog from a detached child."""
    global DEADLINE_S
    directory = spool_dir(env)
    own: Spooled | None = None
    try:
        raw = loads(stdin.decode("utf-8", "replace")) if stdin.strip(b" \t\r\n") else {}
    except (ValueError, RecursionError):
        log("stdin was not JSON; ignored")
        raw = None
    if raw is not None and not isinstance(raw, dict):
        log("stdin was not a JSON object; ignored")
    elif raw:
        name = raw.get("hook_event_name")
        if name == "UserPromptSubmit":
            remember_prompt(raw)  # then tell the hub: it confirms a command reached Claude
        if name in HANDLED:
            server = env.get("CCR_SERVER_ID", "")
            if server:
                own = spool_locked(build_event(raw, server), directory)
            else:
                log("CCR_SERVER_ID is not set; an event without a server id is useless, "
                    "dropped")
    if own is None and not _has_backlog(directory):
        return
    child = False
    try:
        if hasattr(os, "fork"):
            if not _detach():
                return  # the parent: Claude goes on; the child holds the file now
            child = True
            DEADLINE_S = CHILD_DEADLINE_S
    except OSError as exc:
        log(f"could not fork ({exc}); sending inline")
    try:
        if own is not None:
            try:
                complete(own.event)
                own.update()
            except Exception as exc:
                log(f"could not complete {own.name}: {type(exc).__name__}: {exc}")
        _, left = flush(env, directory, own)
        if left:
            log(f"{left} event(s) wait in {directory} "
                f"(hub at {env.get('CCR_HUB_URL') or 'unset'})")
    except Exception as exc:
        log(f"hook error: {type(exc).__name__}: {exc}")
    finally:
        if child:
            os._exit(0)


def main(argv: list[str] | None = None) -> int:
    global _T0, DEADLINE_S
    _T0 = time.monotonic()
    args = sys.argv[1:] if argv is None else argv
    try:
        if "--print-settings" in args:
            import json

            print(json.dumps(settings_snippet(default_command()), indent=2))
            return 0
        env = load_env()
        if "--flush" in args:
            DEADLINE_S = FLUSH_DEADLINE_S  # run by a person: take the time to send it all
            sent, left = flush(env, spool_dir(env))
            print(f"sent {sent}, still spooled {left}", file=sys.stderr)
            return 0
        run_event(read_stdin(), env)
    except BrokenPipeError:  # `ccr hook --print-settings | head`
        pass
    except Exception as exc:  # the hook must never fail Claude
        log(f"hook error: {type(exc).__name__}: {exc}")
    return 0


def run(argv: list[str] | None = None) -> NoReturn:
    """main(), then exit at once. Skipping the interpreter's teardown matters after the
    fork: it would write to every page the child shares with this process (reference
    counts), and each such page is copied first. That was ~4 ms of Claude's wait."""
    code = main(argv)
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
