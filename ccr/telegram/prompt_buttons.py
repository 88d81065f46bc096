"""The buttons under a question from Claude: `p:<prompt id>:<option number>` or `p:<id>:esc`.

A tap is validated strictly, answered through the PromptService (which presses the key in
the pane, once), then every message that offered the question shows the choice and loses
its buttons. Any refusal is answered in plain words and changes nothing.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from telegram import Bot, CallbackQuery
from telegram.constants import ParseMode
from telegram.error import TelegramError

from ccr.core.errors import CcrError
from ccr.telegram import render

if TYPE_CHECKING:
    from ccr.hub import Hub

DATA = re.compile(r"^(?P<id>[1-9][0-9]{0,17}):(?P<choice>[1-9]|esc)$")


class PromptButtons:
    """Handler for the `p` prefix of the bot's button router."""

    def __init__(self, hub: Hub, bot: Bot) -> None:
        self.hub = hub
        self.bot = bot

    async def tap(self, query: CallbackQuery, rest: str) -> str:
        m = DATA.match(rest)
        if m is None:
            return render.esc(CcrError("button_invalid", why="its data is malformed").message)
        choice = None if m["choice"] == "esc" else int(m["choice"])
        who = f"telegram:{query.from_user.id}" if query.from_user else "telegram:?"
        try:
            done = await self.hub.prompts.answer(int(m["id"]), choice, by=who)
        except CcrError as exc:
            return render.esc(exc.message)
        for chat_id, message_id, payload in done.messages:
            await self._show(chat_id, message_id, {**payload, "answered": done.answer})
        tapped = query.message
        if tapped is not None and not any((c, mid) == (tapped.chat.id, tapped.message_id)
                                          for c, mid, _ in done.messages):
            offered = next((p for c, p in done.unrecorded if c == tapped.chat.id), None)
            if offered is not None:  # tapped before its sending was recorded
                await self._show(tapped.chat.id, tapped.message_id,
                                 {**offered, "answered": done.answer})
            else:
                with contextlib.suppress(TelegramError):  # not one of ours: drop its buttons
                    await self.bot.edit_message_reply_markup(
                        chat_id=tapped.chat.id, message_id=tapped.message_id,
                        reply_markup=None)
        if done.answer == "esc":
            return f"⎋ Pressed Esc in {done.session.handle}"
        return render.clip(f"✅ Chose {done.answer} in {done.session.handle}", 200)

    async def _show(self, chat_id: int, message_id: int, payload: dict[str, object]) -> None:
        """The notification as answered: the choice instead of the buttons."""
        try:
            await self.bot.edit_message_text(
                render.item_text("notification", payload), chat_id=chat_id,
                message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=None)
        except TelegramError as exc:  # deleted, or already showing it: the key was pressed
            self.hub.log("warning", f"could not show the answer on message {message_id} in "
                                    f"chat {chat_id}: {exc}")
