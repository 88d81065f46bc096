"""Claude Code hook: tell the ccr hub that Claude stopped or waits. Standard library only.

Runs as `ccr hook` or, on a server without ccr, as `python3 hook.py`. Claude Code pipes the
event JSON on stdin. The hook never holds Claude up and never blocks it: it prints nothing,
always exits 0, and finishes within about 2 s. Every event is first written to a local
spool, then the spool is sent oldest first; what the hub does not take now is sent by the
next run (or `ccr hook --flush`).

Settings come from the environment, falling back to a KEY=VALUE file
(`~/.config/ccr/hook.env`, or the path in CCR_HOOK_ENV), because Claude Code's own
environment often lacks the user's shell exports:
  CCR_HUB_URL        the hub, e.g. http://127.0.0.1:8765
  CCR_SERVER_ID      this machine's server id in the hub's ccr.toml
  CCR_SHARED_SECRET  signs each event (HMAC-SHA256 over timestamp and body)
  CCR_SPOOL_DIR      optional; default ~/.local/state/ccr/spool
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

DEADLINE_S = 1.7  # the whole run, stdin to last send; Claude must never wait on us
STDIN_LIMIT = 1024 * 1024
TRANSCRIPT_TAIL = 4 * 1024 * 1024
TEXT_LIMIT = 16_000
SPOOL_LIMIT = 1000
HANDLED = ("Stop", "SubagentStop", "Notification", "UserPromptSubmit")
NOT_PROMPTS = (
    "<command-name>", "<command-message>", "<command-args>", "<local-command-stdout>",
    "Caveat:", "[Request interrupted by user", "Stop hook feedback:",
    "This session is being continued from a previous conversation",
)
_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
_T0 = time.monotonic()


def _left() -> float:
    return DEADLINE_S - (time.monotonic() - _T0)


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ccr"


def log(msg: str) -> None:
    """Append to the hook's own log; never raise."""
    with contextlib.suppress(OSError):
        path = state_dir() / "hook.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > 1_000_000:
            path.replace(path.with_suffix(".log.1"))
        with path.open("a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}\n")


def load_env() -> dict[str, str]:
    """CCR_* settings: the environment wins over the hook.env file."""
    merged: dict[str, str] = {}
    env_file = Path(os.environ.get("CCR_HOOK_ENV") or Path.home() / ".config/ccr/hook.env")
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in env_file.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key.startswith("CCR_") and not key.startswith("#"):
                merged[key.strip()] = value.strip().strip("'\"")
    merged.update({k: v for k, v in os.environ.items() if k.startswith("CCR_") and v})
    return merged


def read_stdin(timeout: float = 0.5) -> bytes:
    """All of stdin, bounded in size and time (a never-closed stdin must not hang us)."""
    fd = sys.stdin.fileno()
    chunks: list[bytes] = []
    size = 0
    end = time.monotonic() + timeout
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
    return b"".join(chunks)


# --- transcript -----------------------------------------------------------------------


def _tail_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records at the end of a transcript, read from its end."""
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


def clean(text: str | None) -> str | None:
    if not text:
        return None
    text = _REMINDER.sub("", text).strip()
    return text[:TEXT_LIMIT] or None


def _prompt_memory(session_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id)[:100]
    return state_dir() / "prompts" / safe


def remember_prompt(event: dict[str, Any]) -> None:
    """UserPromptSubmit: keep the exact prompt for this Claude session's next Stop."""
    sid, prompt = event.get("session_id"), event.get("prompt")
    if isinstance(sid, str) and isinstance(prompt, str):
        path = _prompt_memory(sid)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(prompt[:TEXT_LIMIT], encoding="utf-8")


def last_turn(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """Prompt and reply for a Stop, waiting briefly for a late transcript flush."""
    reply = event.get("last_assistant_message")
    reply = reply if isinstance(reply, str) and reply.strip() else None
    prompt = None
    sid = event.get("session_id")
    if isinstance(sid, str):
        with contextlib.suppress(OSError):
            prompt = _prompt_memory(sid).read_text(encoding="utf-8")
    tpath = event.get("transcript_path")
    if isinstance(tpath, str) and tpath and (reply is None or prompt is None):
        path = Path(tpath).expanduser()
        want_reply = reply is None and event.get("hook_event_name") in ("Stop", "SubagentStop")
        while True:
            t_prompt, t_reply = transcript_turn(path)
            if not want_reply or t_reply or _left() < 1.2:
                break
            time.sleep(0.1)  # Stop can fire before the reply reaches the file
        prompt = prompt or t_prompt
        reply = reply or t_reply
    return clean(prompt), clean(reply)


# --- tmux -------------------------------------------------------------------------------


def tmux_info() -> dict[str, str | None]:
    """Pane id, socket and session name of the pane this Claude runs in, if any."""
    pane = os.environ.get("TMUX_PANE") or None
    tmux_env = os.environ.get("TMUX", "")
    socket = tmux_env.split(",", 1)[0] or None if tmux_env else None
    info: dict[str, str | None] = {"pane_id": pane, "socket": socket, "session_name": None}
    if pane:
        argv = ["tmux", *(["-S", socket] if socket else []),
                "display-message", "-p", "-t", pane, "#{session_name}"]
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(argv, capture_output=True, timeout=0.5, check=False)
            if out.returncode == 0:
                info["session_name"] = out.stdout.decode("utf-8", "replace").strip() or None
    return info


# --- event, spool, send -------------------------------------------------------------------


def build_event(raw: dict[str, Any], server_id: str) -> dict[str, Any]:
    name = str(raw.get("hook_event_name") or "")
    prompt, reply = last_turn(raw) if name in ("Stop", "SubagentStop") else (None, None)
    if name == "UserPromptSubmit" and isinstance(raw.get("prompt"), str):
        prompt = raw["prompt"][:TEXT_LIMIT]
    keep = ("session_id", "cwd", "transcript_path", "permission_mode", "message",
            "notification_type", "title", "agent_type", "agent_id")
    event: dict[str, Any] = {k: raw[k] for k in keep if isinstance(raw.get(k), str)}
    event.update({
        "event_id": str(uuid.uuid4()),
        "server_id": server_id,
        "hook_event_name": name,
        "tmux": tmux_info(),
        "last_prompt": prompt,
        "last_reply": reply,
        "created_at": time.time(),
        "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
    })
    if not event.get("cwd"):
        event["cwd"] = os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    return event


def spool_dir(env: dict[str, str]) -> Path:
    return Path(env.get("CCR_SPOOL_DIR") or state_dir() / "spool").expanduser()


def spool(event: dict[str, Any], directory: Path) -> Path:
    """Write the event to the spool atomically; it leaves only once the hub took it."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{event['event_id']}.json"
    tmp = directory / f".{name}.tmp"
    tmp.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
    tmp.replace(directory / name)
    files = sorted(directory.glob("*.json"))
    for old in files[: max(0, len(files) - SPOOL_LIMIT)]:
        log(f"spool full: dropping {old.name}")
        _reject(old)
    return directory / name


def _reject(path: Path) -> None:
    with contextlib.suppress(OSError):
        dest = path.parent / "rejected"
        dest.mkdir(exist_ok=True)
        path.replace(dest / path.name)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def post(url: str, secret: str, body: bytes, traceparent: str | None, timeout: float) -> int:
    """POST one event; the HTTP status, or 0 when the hub could not be reached."""
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-CCR-Timestamp": ts,
        "X-CCR-Signature": sign(secret, ts, body),
    }
    if traceparent:
        headers["traceparent"] = traceparent
    req = urllib.request.Request(url.rstrip("/") + "/notify", data=body, headers=headers,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return 0


def flush(env: dict[str, str], directory: Path) -> tuple[int, int]:
    """Send the spool oldest first until the deadline; returns (sent, left)."""
    url, secret = env.get("CCR_HUB_URL", ""), env.get("CCR_SHARED_SECRET", "")
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not url or not secret:
        return 0, len(files)
    try:
        import fcntl

        lock = (directory / ".lock").open("w")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (OSError, ImportError):
        return 0, len(files)  # another run is sending; the events stay spooled
    sent = 0
    try:
        for path in sorted(directory.glob("*.json")):
            left = _left()
            if left < 0.15:
                break
            try:
                body = path.read_bytes()
                trace = json.loads(body).get("traceparent")
            except (OSError, ValueError):
                _reject(path)
                continue
            status = post(url, secret, body, trace, min(1.0, left - 0.1))
            if 200 <= status < 300:
                path.unlink(missing_ok=True)
                sent += 1
            elif status in (400, 413, 422):
                log(f"hub rejected {path.name} ({status}); moved to rejected/")
                _reject(path)
            else:
                log(f"hub {'unreachable' if status == 0 else f'answered {status}'}; "
                    f"{path.name} stays spooled")
                break
    finally:
        lock.close()
    return sent, len(list(directory.glob("*.json")))


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
        "UserPromptSubmit": entry(5),
    }}


def default_command() -> str:
    here = Path(__file__).resolve()
    if here.parent.name == "ccr" and (here.parent / "__init__.py").exists():
        return f"{sys.executable} -m ccr.hook"
    return f"python3 {here}"


def run_event(stdin: bytes, env: dict[str, str]) -> None:
    try:
        raw = json.loads(stdin.decode("utf-8", "replace")) if stdin.strip() else {}
    except ValueError:
        log("stdin was not JSON; ignored")
        return
    if not isinstance(raw, dict):
        log("stdin was not a JSON object; ignored")
        return
    name = raw.get("hook_event_name")
    if name == "UserPromptSubmit":
        remember_prompt(raw)  # then tell the hub: it confirms a command reached Claude
    directory = spool_dir(env)
    if name in HANDLED:
        server = env.get("CCR_SERVER_ID", "")
        if not server:
            log("CCR_SERVER_ID is not set; event spooled without a server id is useless, "
                "dropped")
            return
        spool(build_event(raw, server), directory)
    _, left = flush(env, directory)
    if left:
        log(f"{left} event(s) wait in {directory} (hub at {env.get('CCR_HUB_URL') or 'unset'})")


def main(argv: list[str] | None = None) -> int:
    global _T0, DEADLINE_S
    _T0 = time.monotonic()
    args = sys.argv[1:] if argv is None else argv
    if "--print-settings" in args:
        print(json.dumps(settings_snippet(default_command()), indent=2))
        return 0
    env = load_env()
    if "--flush" in args:
        DEADLINE_S = 60.0  # run by a person, not by Claude: take the time to send it all
        sent, left = flush(env, spool_dir(env))
        print(f"sent {sent}, still spooled {left}", file=sys.stderr)
        return 0
    try:
        run_event(read_stdin(), env)
    except Exception as exc:  # the hook must never fail Claude
        log(f"hook error: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
