"""Turns outbox items and replies into Telegram HTML within the 4096-character limit."""

from __future__ import annotations

import html
import time
from typing import Any

from ccr.models import Session

LIMIT = 4096
ICONS = {"stop": "✅", "subagent_stop": "🧩", "waiting": "⏳", "notification": "🔔"}
TITLES = {"stop": "Claude finished", "subagent_stop": "a subagent finished",
          "waiting": "Claude is waiting", "notification": "Claude says"}


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def u16len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """At most `limit` UTF-16 units, marking a cut with an ellipsis."""
    if u16len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    while cut and u16len(cut) > limit - 1:
        cut = cut[: len(cut) - max(1, (u16len(cut) - limit + 1) // 2)]
    return cut.rstrip() + "…"


def notification(p: dict[str, Any]) -> str:
    event = str(p.get("event", "notification"))
    handle = str(p.get("handle", "?"))
    project = clip(str(p.get("project", "")).rstrip("/").rsplit("/", 1)[-1] or "?", 80)
    title = str(p.get("message") or "") if event in ("waiting", "notification") else ""
    title = clip(title, 500) or TITLES.get(event, "Claude")
    head = (f"{ICONS.get(event, '🔔')} <b>{esc(handle)}</b> · {esc(project)} "
            f"on {esc(str(p.get('server', '?')))}\n{esc(title)}")
    if p.get("new_session"):
        head += "  <i>(new session)</i>"
    if p.get("answerable", True):
        foot = (f"↩️ Reply to this message to answer, or /cmd {esc(handle)} &lt;text&gt; "
                f"(token <code>{esc(str(p.get('token', '')))}</code>)")
    else:
        foot = "⚠️ This Claude is not running inside tmux, so ccr cannot type into it."
    prompt = str(p.get("prompt") or "")
    reply = str(p.get("reply") or "")
    parts_plain = u16len(head) + u16len(foot) + 40
    prompt_part = ""
    if prompt:
        prompt_text = clip(prompt.replace("\n", " "), 200)
        prompt_part = f"\n\n<i>You:</i> {esc(prompt_text)}"
        parts_plain += u16len(prompt_text) + 6
    reply_part = ""
    if reply:
        budget = max(100, LIMIT - parts_plain)
        cut = clip(reply, budget)
        if p.get("reply_truncated") and not cut.endswith("…"):
            cut += "…"
        reply_part = f"\n<blockquote expandable>{esc(cut)}</blockquote>"
    return f"{head}{prompt_part}{reply_part}\n{foot}"


def command_result(p: dict[str, Any]) -> str:
    handle = esc(str(p.get("handle", "?")))
    state = p.get("state")
    text = esc(clip(str(p.get("text", "")).replace("\n", " ⏎ "), 120))
    if state == "delivered":
        return f"📨 Typed into <b>{handle}</b>: <code>{text}</code>"
    err = p.get("error") or {}
    icon = "⚠️" if state == "uncertain" else "❌"
    verb = "may not have reached" if state == "uncertain" else "was not typed into"
    return f"{icon} <code>{text}</code> {verb} <b>{handle}</b>.\n{error_text(err)}"


def error_text(err: dict[str, Any]) -> str:
    lines = [esc(str(err.get("message", "Something went wrong.")))]
    steps = err.get("steps") or []
    lines += [f"{i}. {esc(str(s))}" for i, s in enumerate(steps, 1)]
    return "\n".join(lines)


def item_text(kind: str, payload: dict[str, Any]) -> str:
    if kind == "notification":
        text = notification(payload)
    elif kind == "command_result":
        text = command_result(payload)
    elif kind == "command_error":
        text = "❌ " + error_text(payload.get("error") or {})
    else:
        text = esc(str(payload.get("text", "")))
    return text


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def sessions_list(sessions: list[Session], now: float | None = None) -> list[str]:
    """The /sessions answer, grouped by server, split into messages under the limit."""
    now = time.time() if now is None else now
    if not sessions:
        return ["No live sessions yet. When Claude Code stops or waits on a server with the "
                "ccr hook, its session shows up here."]
    blocks: list[str] = []
    server = None
    for s in sessions:
        if s.server_id != server:
            server = s.server_id
            blocks.append(f"\n🖥 <b>{esc(server)}</b>")
        last = clip((s.last_reply or s.last_prompt or "").replace("\n", " "), 80)
        blocks.append(
            f"• <b>{esc(s.handle)}</b> <code>{esc(s.token)}</code> · {esc(s.project_name)} · "
            f"active {ago(now - s.updated_at)} ago · expires in {ago(s.expires_at - now)}"
            + (f"\n  <i>{esc(last)}</i>" if last else "")
        )
    messages: list[str] = []
    current = "<b>Live sessions</b>"
    for b in blocks:
        if len(current) + len(b) + 1 > LIMIT - 100:
            messages.append(current)
            current = ""
        current += "\n" + b
    messages.append(current.strip())
    return messages


HELP = (
    "<b>ccr</b> relays Claude Code to you and your answers back to it.\n\n"
    "• <b>Reply</b> to a notification to type your text into that session.\n"
    "• /cmd <code>HANDLE text</code> types text into a session, e.g. "
    "<code>/cmd laptop:1 run the tests</code>. HANDLE is <code>server:N</code> or the "
    "8-letter token.\n"
    "• /sessions lists live sessions by server.\n"
    "• /help shows this.\n\n"
    "Text is typed literally and submitted with Enter; nothing is run by a shell."
)
