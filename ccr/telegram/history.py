"""/history [filters]: the last commands as one message, paged in place, with Re-run buttons.

Paging buttons carry `hi:<offset>:<filter>` (≤64 bytes). A filter too long for that is left
out (`hi:<offset>:~`) and read back from the message being edited, which shows it on its
🔎 line, so nothing is kept on the hub per message. Re-run buttons carry `r:<command id>`;
their handler lives with the command's own buttons.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from ccr.core.durations import ago, duration
from ccr.core.errors import CcrError
from ccr.core.models import CommandState
from ccr.services.history import HistoryPage
from ccr.telegram.render import clip, error_text, esc

if TYPE_CHECKING:
    from ccr.telegram.bot import TelegramBot

PAGE = 10
PREVIEW = 70
MAX_DATA = 64
MAX_OFFSET = 1_000_000
FROM_MESSAGE = "~"
"""In paging data: the filter did not fit; read it from the message's 🔎 line."""
FILTER_MARK = "🔎 "
PAGE_DATA = re.compile(r"^(\d{1,7}):(.*)$", re.DOTALL)
ICONS = {CommandState.PENDING: "⏳", CommandState.DISPATCHING: "⌨️",
         CommandState.EXECUTING: "⚙️", CommandState.COMPLETED: "✅",
         CommandState.FAILED: "❌", CommandState.TIMEOUT: "⏱", CommandState.CANCELLED: "🚫",
         CommandState.UNCERTAIN: "❓"}
NOT_VALID = "This button is not valid (any more)."


def page_text(page: HistoryPage, filter_text: str, now: float) -> str:
    """The list: a head line, the filter, then one entry per command (HTML)."""
    if not page.commands:
        head = "🕘 <b>History</b>: no command matches." if filter_text or page.total \
            else "🕘 <b>History</b>: no commands yet."
    else:
        first = page.offset + 1
        head = (f"🕘 <b>History</b> · {first}–{first + len(page.commands) - 1} "
                f"of {page.total}, newest first")
    lines = [head]
    if filter_text:
        lines.append(FILTER_MARK + f"<code>{esc(filter_text)}</code>")
    for n, c in enumerate(page.commands, 1):
        preview = clip(" ".join(c.text.split()), PREVIEW)
        took = duration(c.duration, running="running")
        lines.append(f"\n{n}. {ICONS.get(c.state, '•')} <code>{esc(c.handle)}</code> · "
                     f"{c.state.phase} · {took} · {ago(now - c.created_at)} ago\n"
                     f"<i>{esc(preview)}</i>")
    return "\n".join(lines)


def page_data(offset: int, filter_text: str) -> str:
    """Callback data of a paging button, at most 64 bytes."""
    data = f"hi:{offset}:{filter_text}"
    return data if len(data.encode()) <= MAX_DATA else f"hi:{offset}:{FROM_MESSAGE}"


def keyboard(page: HistoryPage, filter_text: str) -> InlineKeyboardMarkup | None:
    rerun = [InlineKeyboardButton(f"🔁 Re-run {n}", callback_data=f"r:{c.id}")
             for n, c in enumerate(page.commands, 1)]
    rows = [rerun[i:i + 2] for i in range(0, len(rerun), 2)]
    nav = []
    if page.offset > 0:
        nav.append(InlineKeyboardButton(
            "‹ Newer", callback_data=page_data(max(0, page.offset - page.limit), filter_text)))
    if page.has_older:
        nav.append(InlineKeyboardButton(
            "Older ›", callback_data=page_data(page.offset + len(page.commands), filter_text)))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows) if rows else None


def filter_of_message(text: str | None) -> str | None:
    """The filter the message shows on its 🔎 line ("" when it shows none)."""
    for line in (text or "").splitlines():
        if line.startswith(FILTER_MARK):
            return line[len(FILTER_MARK):].strip()
    return "" if text and text.startswith("🕘") else None


def handler(bot: TelegramBot
            ) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """The /history command handler."""

    async def history(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        if msg is None or msg.text is None:
            return
        parts = msg.text.split(maxsplit=1)
        filter_text = " ".join(parts[1].split()) if len(parts) > 1 else ""
        try:
            page = await bot.hub.history.search(filter_text, limit=PAGE)
        except CcrError as exc:
            await msg.reply_html("❌ " + error_text(exc.to_dict()))
            return
        await msg.reply_html(page_text(page, filter_text, bot.hub.clock()),
                             reply_markup=keyboard(page, filter_text))

    return history


def pager(bot: TelegramBot) -> Callable[[CallbackQuery, str], Awaitable[str | None]]:
    """The `hi:` button: show another page in the same message."""

    async def page_button(query: CallbackQuery, rest: str) -> str | None:
        m = PAGE_DATA.match(rest)
        if m is None or int(m[1]) > MAX_OFFSET:
            return NOT_VALID
        offset, filter_text = int(m[1]), m[2]
        if filter_text == FROM_MESSAGE:
            message = query.message
            found = filter_of_message(getattr(message, "text", None))
            if found is None:
                return NOT_VALID
            filter_text = found
        try:
            page = await bot.hub.history.search(filter_text, limit=PAGE, offset=offset)
        except CcrError:
            return NOT_VALID
        with contextlib.suppress(BadRequest):  # deleted, or already showing this page
            await query.edit_message_text(page_text(page, filter_text, bot.hub.clock()),
                                          parse_mode=ParseMode.HTML,
                                          reply_markup=keyboard(page, filter_text))
        return None

    return page_button
