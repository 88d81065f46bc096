"""/audit [DURATION] [WHO]: the latest audit entries, newest first (admins; ccr.core.roles)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from ccr.core.durations import parse_duration
from ccr.services import audit
from ccr.store.audit import Entry
from ccr.telegram import render

if TYPE_CHECKING:
    from ccr.telegram.bot import TelegramBot

SHOWN = 25
USAGE = ("Usage: <code>/audit [DURATION] [WHO]</code>, e.g. <code>/audit 2h</code> or "
         "<code>/audit 1d ann</code>: who did what, newest first.")


def register(bot: TelegramBot) -> None:
    if bot._allowed is None:
        return

    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        if msg is None or msg.text is None:
            return
        args = msg.text.split()[1:]
        since: float | None = 86400.0
        if args and parse_duration(args[0]) is not None:
            since = parse_duration(args.pop(0))
        if len(args) > 1:
            await msg.reply_html(USAGE)
            return
        entries = await bot.hub.audit.recent(since_s=since, who=args[0] if args else None,
                                             limit=SHOWN)
        await msg.reply_html(text(entries))

    bot.app.add_handler(CommandHandler("audit", handler, filters=bot._allowed))


def text(entries: list[Entry]) -> str:
    """The entries as one message (clipped to Telegram's limit)."""
    if not entries:
        return "📜 No audit entries in that window."
    lines = ["📜 <b>Audit log</b>, newest first:"]
    size = 0
    for e in entries:
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(e.at))
        mark = "🔒 " if e.refused else ""
        lines.append(f"{mark}<code>{stamp}</code> {render.esc(audit.who(e))} · "
                     f"<b>{render.esc(e.action)}</b> · {render.esc(audit.where(e))} · "
                     f"{render.esc(e.outcome)}\n   <i>{render.esc(e.what[:200])}</i>")
        size += len(lines[-1])
        if size > 3500:  # whole entries only: a cut could split an HTML tag
            lines[-1] = "…"
            break
    return "\n".join(lines)
