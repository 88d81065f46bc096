"""Turns outbox items and replies into Telegram HTML within the 4096-character limit."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ccr.core.durations import ago
from ccr.core.models import Session
from ccr.core.outbox_items import TITLES, item_summary
from ccr.core.redact import redact, redact_values
from ccr.telegram import richtext

if TYPE_CHECKING:
    from ccr.store.deadletters import DeadLetter

LIMIT = 4096
ICONS = {"stop": "✅", "subagent_stop": "🧩", "waiting": "⏳", "notification": "🔔",
         "stop_failure": "❌"}

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
    elif p.get("restored"):
        head += "  <i>(back again)</i>"
    if p.get("degraded"):
        head = f"⚠️ <i>Degraded: {esc(clip(str(p['degraded']), 200))}</i>\n{head}"
    if p.get("prompt_id"):
        return f"{head}\n\n{prompt_block(p, LIMIT - u16len(head) - 10)}"
    if event == "stop_failure":
        return stop_failure(head, p)
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
    if reply and richtext.ENABLED:
        raw_room = LIMIT - u16len(f"{head}{prompt_part}\n\n{foot}")
        reply_part = "\n" + richtext.notification_reply(
            reply, max(100, LIMIT - parts_plain), raw_room,
            truncated=bool(p.get("reply_truncated")))
    elif reply:
        budget = max(100, LIMIT - parts_plain)
        cut = clip(reply, budget)
        if p.get("reply_truncated") and not cut.endswith("…"):
            cut += "…"
        reply_part = f"\n<blockquote expandable>{esc(cut)}</blockquote>"
    return f"{head}{prompt_part}{reply_part}\n{foot}"


def stop_failure(head: str, p: dict[str, Any]) -> str:
    """A turn that ended on an API error, typed at the keyboard or not shown on a command's
    message: Claude's own words, then what they mean and what to do."""
    parts = [head]
    said = str(p.get("reply") or "").strip()
    if said:
        parts.append(f"💬 Claude: <i>{esc(clip(said, 600))}</i>")
    prompt = str(p.get("prompt") or "")
    if prompt:
        parts.append(f"<i>You:</i> {esc(clip(prompt.replace(chr(10), ' '), 200))}")
    failure = p.get("failure") or {}
    if failure:
        parts.append(error_text(failure))
    if p.get("answerable", True):
        parts.append("↩️ Reply to this message to type a new prompt into "
                     f"{esc(str(p.get('handle', '?')))} once that is fixed.")
    return "\n".join(parts)


def prompt_block(p: dict[str, Any], budget: int = LIMIT) -> str:
    """A dialog read from the pane: its title, context (the command or file), question and
    options; then what was chosen, or how to answer. At most `budget` characters as shown:
    the context gets what the rest leaves."""
    top = f"<b>{esc(clip(str(p['title']), 100))}</b>" if p.get("title") else ""
    lines = [f"<b>{esc(clip(str(p.get('question', '')), 300))}</b>"]
    for o in p.get("options") or []:
        detail = (f"\n   <i>{esc(clip(str(o.get('detail')), 100))}</i>"
                  if o.get("detail") else "")
        lines.append(f"{int(o.get('number', 0))}. {esc(clip(str(o.get('label', '')), 150))}"
                     f"{detail}")
    answered = p.get("answered")
    if answered == "esc":
        lines.append("\n⎋ Dismissed (Esc)")
    elif answered:
        lines.append(f"\n✅ You chose: {esc(clip(str(answered), 200))}")
    else:
        handle = esc(str(p.get("handle", "?")))
        lines.append(f"\n👆 Tap a choice to press its key in {handle}.\n<i>A text reply is "
                     "typed into this dialog as it stands: its Enter picks the highlighted "
                     "option.</i>")
    rest = "\n".join(lines)
    room = budget - u16len(html.unescape(re.sub(r"<[^>]+>", "", top + rest))) - 30
    context = "\n".join(str(line) for line in p.get("context") or [])
    more = int(p.get("context_more") or 0)
    middle = ""
    if context and room > 40:
        middle = f"<pre>{esc(clip(context, min(room, 1500)))}</pre>"
        if more:
            middle += f"<i>(+{more} lines)</i>"
    return "\n".join(part for part in (top, middle, rest) if part)


BUTTON_CHARS = 32


def prompt_buttons(p: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """One row per option (its text, shortened) and Esc; none once answered."""
    if not p.get("prompt_id") or p.get("answered"):
        return []
    ident = int(p["prompt_id"])
    rows = []
    for o in p.get("options") or []:
        label = str(o.get("label", "")).removesuffix("(esc)").strip()
        rows.append([(clip(label, BUTTON_CHARS) or str(o["number"]),
                      f"p:{ident}:{int(o['number'])}")])
    if p.get("esc"):
        rows.append([("⎋ Esc", f"p:{ident}:esc")])
    return rows


def buttons(kind: str, payload: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """(label, callback data) rows of the buttons under an outbox message (redacted)."""
    payload = scrub(payload)
    if kind == "alert":
        row = alert_buttons(payload)
        return [row] if row else []
    if kind == "notification":
        if not payload.get("prompt_id"):
            return session_buttons(payload)
        rows = prompt_buttons(payload)
        if rows and payload.get("answerable", True) and TOKEN.match(str(payload.get("token"))):
            rows.append([("🖼 Screen", f"scr:{payload['token']}")])  # the dialog itself
        return rows
    return []


TOKEN = re.compile(r"^[a-z0-9]{8}$")


def session_buttons(p: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """Stop, Clear and Screen under a session's notification (ccr.telegram.session_control,
    ccr.telegram.screen)."""
    token = str(p.get("token") or "")
    if not p.get("answerable", True) or not TOKEN.match(token):
        return []
    return [[("⏹ Stop", f"ss:{token}"), ("🧹 Clear", f"sc:{token}"),
             ("🖼 Screen", f"scr:{token}")]]


def command_result(p: dict[str, Any]) -> str:
    handle = esc(str(p.get("handle", "?")))
    state = p.get("state")
    text = esc(clip(str(p.get("text", "")).replace("\n", " ⏎ "), 120))
    if state in ("delivered", "executing"):
        return f"📨 Typed into <b>{handle}</b>: <code>{text}</code>"
    err = p.get("error") or {}
    icon = "⚠️" if state == "uncertain" else "❌"
    verb = "may not have reached" if state == "uncertain" else "was not typed into"
    return f"{icon} <code>{text}</code> {verb} <b>{handle}</b>.\n{error_text(err)}"


def error_text(err: dict[str, Any]) -> str:
    lines = [esc(str(err.get("message", "Something went wrong.")))]
    steps = err.get("steps") or []
    lines += [f"{i}. {esc(str(s))}" for i, s in enumerate(steps, 1)]
    trace_id = err.get("trace_id")
    if trace_id:
        lines.append(f"<i>trace <code>{esc(str(trace_id)[:12])}</code></i>")
    return "\n".join(lines)


scrub = redact_values
"""`value` with every string in it (nested dicts and lists too) redacted."""


def item_text(kind: str, payload: dict[str, Any]) -> str:
    """An outbox item as Telegram HTML; every text in it is redacted first (the choke point
    for notifications, command results, errors and alerts, before any clipping)."""
    payload = scrub(payload)
    if kind == "notification":
        text = notification(payload)
    elif kind == "command_result":
        text = command_result(payload)
    elif kind == "command_error":
        text = "❌ " + error_text(payload.get("error") or {})
    elif kind == "dlq_alert":
        text = dlq_alert(payload)
    elif kind == "session_health":
        text = session_health(payload)
    elif kind == "session_extended":
        text = session_extended(payload)
    elif kind == "alert":
        text = alert(payload)
    else:
        text = esc(str(payload.get("text", "")))
    return text


def pack(head: str, blocks: list[str]) -> list[str]:
    """A heading and blocks as few messages as fit Telegram's limit, never splitting a block."""
    messages: list[str] = []
    current = head
    for b in blocks:
        if u16len(current) + u16len(b) + 1 > LIMIT - 100:
            messages.append(current)
            current = ""
        current += "\n" + b
    messages.append(current.strip())
    return messages


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
        last = clip(redact(s.last_reply or s.last_prompt or "").replace("\n", " "), 80)
        blocks.append(
            f"• <b>{esc(s.handle)}</b> <code>{esc(s.token)}</code> · {esc(s.project_name)} · "
            f"active {ago(now - s.updated_at)} ago · expires in {ago(s.expires_at - now)}"
            + (f"\n  <i>{esc(last)}</i>" if last else "")
        )
    return pack("<b>Live sessions</b>", blocks)


HELP = (
    "<b>ccr</b> relays Claude Code to you and your answers back to it.\n\n"
    "• <b>Reply</b> to a notification to type your text into that session.\n"
    "• /cmd <code>HANDLE text</code> types text into a session, e.g. "
    "<code>/cmd laptop:1 run the tests</code>. HANDLE is <code>server:N</code> or the "
    "8-letter token.\n"
    "• <code>/cmd text</code> without a handle asks which session should get it.\n"
    "• Each command gets one message that follows it: typed, received by Claude, done with "
    "Claude's answer (or why not), with Cancel, Retry/Re-run and Show full reply buttons.\n"
    "• /history lists recent commands; filter with a server, a handle, "
    "<code>state:failed</code> or words, e.g. <code>/history laptop tests</code>.\n"
    "• /sessions lists live sessions by server.\n"
    "• /screen <code>HANDLE</code> sends the session's pane as a picture (colours kept); "
    "/tail <code>HANDLE N</code> sends its last N lines as text (30 when you give none). "
    "As a reply to a notification, or in a session's topic, no handle is needed.\n"
    "• /new <code>SERVER DIR</code> starts Claude there in a new tmux window (DIR absolute or "
    "from the home directory; without DIR, buttons offer the directories used before). "
    "/stop <code>HANDLE</code> ends it (after you confirm), /clear <code>HANDLE</code> starts "
    "a fresh conversation, /restart <code>HANDLE</code> starts it again with --continue, "
    "/esc <code>HANDLE</code> interrupts what Claude is doing.\n"
    "• /dlq (admins) lists messages Telegram did not take; /dlq retry ID|all sends them again.\n"
    "• /status shows the hub's health (GREEN, YELLOW, RED) per server.\n"
    "• /alerts lists active alerts; <code>/alerts ack ID</code> (admins) acknowledges one.\n"
    "• /audit <code>[2h] [WHO]</code> (admins) shows who did what, newest first.\n"
    "Observers (<code>[telegram] observers</code>) read; typing, buttons, /new and /stop "
    "need an operator.\n"
    "• /help shows this.\n\n"
    "Text is typed literally and submitted with Enter; nothing is run by a shell."
)



def when(ts: float) -> str:
    """A local date and time a person reads at a glance."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def dlq_alert(p: dict[str, Any]) -> str:
    """The admins' alert: what failed, since when, and how to send it again."""
    entry = esc(str(p.get("entry_id", "?")))
    return (
        "🚨 <b>A message could not be delivered</b> and has been archived (not lost).\n"
        f"What: {esc(str(p.get('what', '?')))} to chat "
        f"<code>{esc(str(p.get('chat_id')))}</code>\n"
        f"Failing since: {when(float(p.get('since') or 0))} "
        f"({esc(str(p.get('cycles', '?')))} retry cycles)\n"
        f"Last error: {esc(clip(str(p.get('reason', '?')), 300))}\n\n"
        "To send it again once the cause is fixed:\n"
        f"1. here: <code>/dlq retry {entry}</code>\n"
        f"2. or on the hub: <code>ccr dlq retry {entry}</code>\n"
        "See every entry with /dlq or <code>ccr dlq list</code>."
    )


def dlq_list(entries: Sequence[DeadLetter], now: float, max_cycles: int) -> list[str]:
    """The /dlq answer: each entry with its reason and next retry, then how to retry."""
    if not entries:
        return ["📭 The dead-letter queue is empty: every message was delivered."]
    blocks = []
    for e in entries:
        if e.state == "queued" and e.next_attempt_at is not None:
            nxt = f"next try in {ago(e.next_attempt_at - now)}"
        elif e.state == "retrying":
            nxt = "being retried now"
        else:
            nxt = "archived: retried only by hand"
        blocks.append(
            f"• <b>#{e.id}</b> {esc(item_summary(e.kind, e.payload))} to chat "
            f"<code>{e.chat_id}</code>\n  since {when(e.created_at)} · cycle "
            f"{e.cycles}/{max_cycles} · {nxt}\n  <i>{esc(clip(redact(e.reason), 200))}</i>")
    foot = "\nRetry: <code>/dlq retry ID</code> or <code>/dlq retry all</code>"
    return pack(f"<b>Dead letters</b> ({len(entries)})", [*blocks, foot])


def session_health(p: dict[str, Any]) -> str:
    """A session's pane was lost, its server went away, or it came back."""
    handle = esc(str(p.get("handle", "?")))
    project = esc(str(p.get("project", "")).rstrip("/").rsplit("/", 1)[-1] or "?")
    reason = esc(clip(str(p.get("reason", "")), 300))
    health = p.get("health")
    if health == "ok":
        return (f"🟢 <b>{handle}</b> · {project} is back: {reason}.\n"
                "Replies and /cmd reach it again.")
    if health == "unreachable":
        return (f"🔴 <b>{handle}</b> · {project}: {reason}.\n"
                "1. Nothing you send to it is typed until the server answers again.\n"
                "2. ccr keeps checking and tells you when it is back.")
    return (f"🔴 <b>{handle}</b> · {project}: {reason}.\n"
            "1. Check that Claude Code still runs in tmux on that machine.\n"
            "2. Start it again in the same tmux session: ccr maps it back and tells you.")


def session_extended(p: dict[str, Any]) -> str:
    """A session used close to its expiry got more time."""
    hours = int(p.get("hours") or 24)
    return (f"⏱ <b>{esc(str(p.get('handle', '?')))}</b> was about to expire; "
            f"it stays open {hours} h more.")


# --- alerts and health ---------------------------------------------------------------------

ALERT_ICONS = {"firing": "🚨", "acknowledged": "🔕", "resolved": "✅"}


def alert(p: dict[str, Any]) -> str:
    """An alert for the admins: fired (with an Ack button), repeated, or resolved (brief)."""
    ident = esc(str(p.get("id", "?")))
    title = esc(str(p.get("title") or p.get("rule") or "Alert"))
    server = f" on <b>{esc(str(p['server']))}</b>" if p.get("server") else ""
    state = str(p.get("state", "firing"))
    if p.get("phase") == "resolved" and state == "resolved":
        return f"✅ Resolved: alert #{ident} · {title}{server}."
    head = f"{ALERT_ICONS.get(state, '🚨')} <b>Alert #{ident}</b> · {title}{server}"
    if p.get("phase") == "reminder" and state == "firing":
        head += " <i>(still firing)</i>"
    lines = [head, esc(clip(str(p.get("message", "")), 1000)),
             f"Since {when(float(p.get('fired_at') or 0))}"]
    if state == "firing":
        lines.append(f"Acknowledge: the button below, <code>/alerts ack {ident}</code> or "
                     f"<code>ccr alerts ack {ident}</code>.")
    elif state == "acknowledged":
        lines.append(f"🔕 Acknowledged by {esc(str(p.get('acknowledged_by') or '?'))}: quiet "
                     "until it resolves.")
    elif state == "resolved":
        lines.append(f"✅ Resolved at {when(float(p.get('resolved_at') or 0))}.")
    return "\n".join(lines)


def alert_buttons(p: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, callback data) of the buttons under an alert message: Ack while it fires."""
    if p.get("state", "firing") == "firing" and p.get("phase") != "resolved" and p.get("id"):
        return [("🔕 Acknowledge", f"ack:{int(p['id'])}")]
    return []


def alerts_list(alerts: Sequence[dict[str, Any]]) -> list[str]:
    """The /alerts answer: active alerts, newest last, then how to acknowledge."""
    if not alerts:
        return ["✅ No active alerts."]
    blocks = []
    for a in alerts:
        server = f" on <b>{esc(str(a['server']))}</b>" if a.get("server") else ""
        state = str(a.get("state"))
        by = (f" by {esc(str(a.get('acknowledged_by') or '?'))}"
              if state == "acknowledged" else "")
        blocks.append(f"{ALERT_ICONS.get(state, '🚨')} <b>#{a['id']}</b> "
                      f"{esc(str(a.get('title') or a.get('rule')))}{server} · {state}{by} · "
                      f"since {when(float(a.get('fired_at') or 0))}\n"
                      f"  <i>{esc(clip(redact(str(a.get('message', ''))), 300))}</i>")
    foot = "\nAcknowledge: <code>/alerts ack ID</code>"
    return pack(f"<b>Active alerts</b> ({len(alerts)})", [*blocks, foot])


HEALTH_ICONS = {"green": "🟢", "yellow": "🟡", "red": "🔴"}


def status(health: dict[str, Any], active_alerts: int) -> str:
    """The /status answer: the hub's level, why, and each server's."""
    level = str(health.get("level", "?"))
    lines = [f"{HEALTH_ICONS.get(level, '⚪')} <b>ccr hub: {esc(level.upper())}</b>"]
    lines += [f"• {esc(str(r))}" for r in health.get("reasons") or []]
    rate = health.get("error_rate")
    lines.append(f"Error rate (5 min): {'-' if rate is None else f'{rate * 100:.1f} %'} · "
                 f"active alerts: {active_alerts}")
    for srv in health.get("servers") or []:
        lvl = str(srv.get("level"))
        why = "; ".join(str(r) for r in srv.get("reasons") or []) or "ok"
        lines.append(f"{HEALTH_ICONS.get(lvl, '⚪')} <b>{esc(str(srv.get('server')))}</b> "
                     f"{esc(lvl)} · breaker {esc(str(srv.get('breaker')))} · "
                     f"check {esc(str(srv.get('probe')))} · {esc(why)}")
    return clip("\n".join(lines), LIMIT)
