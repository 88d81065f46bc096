"""A bare `/cmd text`: ask which session it goes to (one tap confirms), never guess."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from telegram import CallbackQuery, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from ccr.core.errors import CcrError
from ccr.telegram import render
from ccr.telegram.keyboard import keyboard

if TYPE_CHECKING:
    from ccr.telegram.bot import TelegramBot

HANDLE_LIKE = re.compile(r"^[a-z0-9][a-z0-9-]*:\S*$")
TOKEN_LIKE = re.compile(r"^[a-z0-9]{8}$")
MAX_CHOICES = 8


async def names_a_session(bot: TelegramBot, ref: str) -> bool:
    """Is the first word after /cmd meant as a session (a handle, token or server id)?"""
    ref = ref.lower()
    if HANDLE_LIKE.match(ref) or bot.hub.settings.server(ref) is not None:
        return True
    if TOKEN_LIKE.match(ref):
        try:
            await bot.hub.sessions.resolve(ref)
        except CcrError:
            return False
        return True
    return False


async def ask(bot: TelegramBot, update: Update, msg: Message, text: str) -> None:
    """Keep the text as a draft and offer the live sessions as buttons."""
    try:
        kept = await bot.hub.drafts.keep(chat_id=msg.chat_id, text=text,
                                         update_id=update.update_id)
    except CcrError as exc:
        await msg.reply_html("❌ " + render.error_text(exc.to_dict()))
        return
    if kept is None:
        return  # a redelivered update: asked already
    draft, live = kept
    said = render.esc(render.clip(text.replace("\n", " ⏎ "), 200))
    if len(live) == 1:
        head = f"Send <code>{said}</code> to <b>{render.esc(live[0].handle)}</b>?"
        rows = [[(f"✅ Send to {live[0].handle}", f"d:{draft.id}:{live[0].id}"),
                 ("✖ Don't send", f"dn:{draft.id}")]]
    else:
        head = f"Which session should get <code>{said}</code>?"
        rows = [[(f"{s.handle} · {s.project_name}"[:60], f"d:{draft.id}:{s.id}")]
                for s in live[:MAX_CHOICES]]
        rows.append([("✖ Don't send", f"dn:{draft.id}")])
    await msg.reply_html(head, reply_markup=keyboard(rows))


def register(bot: TelegramBot) -> None:
    async def send(query: CallbackQuery, rest: str) -> str:
        draft_id, _, session_id = rest.partition(":")
        if not (draft_id.isdigit() and session_id.isdigit()) or query.message is None:
            return "This button is not valid (any more)."
        chat = query.message.chat.id
        try:
            draft = await bot.hub.drafts.take(int(draft_id), chat)
        except CcrError as exc:
            return exc.message
        reply_to = query.message.message_id
        _, result = await bot.launch(lambda accepted: bot.hub.commands.submit(
            text=draft.text, session_id=int(session_id), source="telegram", chat_id=chat,
            update_id=bot.update_id, reply_to=reply_to, accepted=accepted))
        if result is not None and result.error is not None:
            return result.error.message
        await _settle(query, "➡️ Sent; its progress is below.")
        return "Sent."

    async def drop(query: CallbackQuery, rest: str) -> str:
        if not rest.isdigit() or query.message is None:
            return "This button is not valid (any more)."
        try:
            await bot.hub.drafts.take(int(rest), query.message.chat.id)
        except CcrError as exc:
            return exc.message
        await _settle(query, "✖ Not sent.")
        return "Not sent."

    bot.buttons.update({"d": send, "dn": drop})


async def _settle(query: CallbackQuery, note: str) -> None:
    """The question answered: its buttons go, a line says what happened."""
    message = query.message
    text = getattr(message, "text_html", None) or ""
    with contextlib.suppress(TelegramError):  # gone: the tap's answer still says what happened
        await query.edit_message_text(f"{text}\n{note}", parse_mode=ParseMode.HTML,
                                      reply_markup=None)
