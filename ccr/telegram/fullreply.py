"""Sends Claude's whole reply on demand ("Show full reply"): formatted messages of at most
4096 units each, or past `[commands] file_after_chars` one Markdown file instead of a flood."""

from __future__ import annotations

import re

import telegram
from telegram.constants import ParseMode

from ccr.telegram.richtext import LIMIT, PART_MARGIN, clean, esc, full_reply_parts

TITLE_CHARS = 60
CAPTION_CHARS = 1024  # Telegram's limit on a document caption
_FILENAME_UNSAFE = re.compile(r"[^\w.-]+")


def filename(title: str) -> str:
    """A short, safe file name for the reply's document (`kr4-1-reply.md`)."""
    stem = _FILENAME_UNSAFE.sub("-", title).strip("-.")[:TITLE_CHARS] or "claude"
    return f"{stem}-reply.md"


def headed_parts(text: str, title: str) -> list[str]:
    """The reply as messages, each starting with the title and its place (`2/3`)."""
    head = esc(title[:TITLE_CHARS])
    room = LIMIT - PART_MARGIN - len(f"<b>{head}</b> · full reply 999/999\n")
    parts = full_reply_parts(text, limit=room)
    n = len(parts)
    return [f"<b>{head}</b> · full reply{f' {i}/{n}' if n > 1 else ''}\n{part}"
            for i, part in enumerate(parts, 1)]


async def send_full_reply(bot: telegram.Bot, chat_id: int, text: str, *, title: str,
                          reply_to: int | None, file_after: int,
                          thread_id: int | None = None) -> int:
    """Send the whole reply (redacted) to `chat_id`, under `reply_to` when given; returns how
    many messages or documents were sent. Telegram errors propagate to the caller."""
    cleaned = clean(text)
    reply = (telegram.ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
             if reply_to else None)
    if len(cleaned) > file_after:
        caption = (f"📄 {title[:TITLE_CHARS]}: Claude's full reply, {len(cleaned):,} "
                   "characters (too long for messages).")
        await bot.send_document(
            chat_id, document=cleaned.encode("utf-8"), filename=filename(title),
            caption=caption[:CAPTION_CHARS], reply_parameters=reply,
            message_thread_id=thread_id)
        return 1
    sent = 0
    for part in headed_parts(cleaned, title):
        await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML,
                               reply_parameters=reply, message_thread_id=thread_id,
                               link_preview_options=telegram.LinkPreviewOptions(is_disabled=True))
        sent += 1
    return sent
