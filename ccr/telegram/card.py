"""A command's live message as Telegram HTML, and the buttons each state offers."""

from __future__ import annotations

from typing import Any

from ccr.core.durations import duration
from ccr.telegram import activity_text, richtext
from ccr.telegram.render import LIMIT, clip, esc, scrub, u16len

ICONS = {"pending": "🕓", "dispatching": "⌨️", "executing": "✓", "completed": "✅",
         "failed": "❌", "uncertain": "⚠️", "timeout": "⌛", "cancelled": "🚫"}
ACTIVE = ("pending", "dispatching", "executing")


def _status(p: dict[str, Any]) -> str:
    state = str(p.get("state", ""))
    created = float(p.get("created_at") or 0)
    at = float(p.get("at") or created)
    if state == "pending":
        return "Queued: waiting for the pane"
    if state == "dispatching":
        return "Typing…"
    if state == "executing":
        if p.get("received_at"):
            if p.get("progress_at"):
                return f"✓✓ Claude is still working · {duration(at - created)}"
            return "✓✓ Claude received it and is working"
        return "Typed into the pane"
    finished = float(p.get("finished_at") or at)
    took = duration(finished - created)
    return {
        "completed": f"Done in {took}",
        "failed": ("Claude stopped on an error" if p.get("by_claude")
                   else "The text was not typed"),
        "uncertain": "The text may not have reached the pane",
        "timeout": f"No answer after {took}",
        "cancelled": "Cancelled",
    }.get(state, state)


def text(p: dict[str, Any], *, preview_chars: int = 600) -> str:
    """The live message for one state of a command (redacted, within Telegram's limit)."""
    p = scrub(p)
    state = str(p.get("state", ""))
    handle = esc(str(p.get("handle", "?")))
    head = f"{ICONS.get(state, '•')} <b>{handle}</b> · {esc(_status(p))}"
    said = clip(str(p.get("text", "")).replace("\n", " ⏎ "), 160)
    alias = str(p.get("alias") or "")
    line = (f"<code>{esc(alias)}</code> → <code>{esc(said)}</code>" if alias
            else f"<code>{esc(said)}</code>")
    parts = [head, line, *activity_text.lines(p, running=state in ACTIVE)]
    screen = str(p.get("screen") or "")
    if state == "executing" and not p.get("received_at") and screen:
        parts.append("⚠️ Claude has not confirmed it yet. The pane shows:\n"
                     f"<pre>{esc(clip(screen, 1200))}</pre>")
    reply = str(p.get("reply") or "")
    if state == "completed":
        if p.get("error_text"):
            parts.append(f"<i>{esc(clip(str(p['error_text']), 300))}</i>")
        elif reply.strip():
            room = max(100, min(preview_chars, LIMIT - 300 - sum(u16len(x) for x in parts)))
            if richtext.ENABLED:
                parts.append(richtext.notification_reply(
                    reply, room, LIMIT - 300 - sum(len(x) for x in parts),
                    truncated=int(p.get("reply_len") or 0) > len(reply)))
            else:
                parts.append(f"<blockquote expandable>{esc(clip(reply, room))}</blockquote>")
        else:
            parts.append("<i>Claude finished without a text reply.</i>")
    if state == "failed" and p.get("by_claude") and reply.strip():
        parts.append(f"💬 Claude: <i>{esc(clip(reply.strip(), 600))}</i>")
    error = str(p.get("error_text") or "")
    if state in ("failed", "uncertain", "timeout", "cancelled") and error:
        parts.append(esc(clip(error, 1500)))
    ident = f"<i>command {esc(str(p.get('command_id', '')))}"
    trace = str(p.get("trace_id") or "")
    if trace and "(trace" not in error:
        ident += f" · trace <code>{esc(trace[:12])}</code>"
    parts.append(ident + "</i>")
    return "\n".join(parts)


def buttons(p: dict[str, Any], *, preview_chars: int = 600) -> list[tuple[str, str]]:
    """(label, callback data) for the state shown; data is `prefix:command id`. Every
    state offers the session's Screen (ccr.telegram.screen)."""
    return [*_state_buttons(p, preview_chars), ("🖼 Screen", f"scr:{p.get('command_id', '')}")]


def _state_buttons(p: dict[str, Any], preview_chars: int) -> list[tuple[str, str]]:
    state = str(p.get("state", ""))
    cid = str(p.get("command_id", ""))
    if state in ACTIVE:
        return [("✖ Cancel", f"c:{cid}")]
    if state == "completed":
        out = []
        if int(p.get("reply_len") or 0) > preview_chars:
            out.append(("📄 Show full reply", f"f:{cid}"))
        return [*out, ("🔁 Re-run", f"r:{cid}"), ("📋 Sessions", "s:")]
    if state in ("failed", "uncertain"):
        return [("🔁 Retry", f"r:{cid}"), ("❓ Help", f"h:{p.get('error_code') or 'internal'}")]
    return [("🔁 Re-run", f"r:{cid}"), ("📋 Sessions", "s:")]
