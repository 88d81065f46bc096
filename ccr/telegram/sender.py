"""Sends the outbox to Telegram: one try per call, failures as `SendFailed` a person can read.

A command's live message is sent once and then edited in place; a session's message goes to
its forum topic where there is one (ccr.telegram.topics).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import telegram
from telegram import InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from ccr.services.delivery import SendFailed
from ccr.store.outbox import OutboxItem
from ccr.store.topics import GENERAL
from ccr.telegram import card, render, richtext, topics
from ccr.telegram.keyboard import keyboard

if TYPE_CHECKING:
    from ccr.hub import Hub


class OutboxSender:
    """The delivery worker's `Sender` over PTB's bot."""

    def __init__(self, hub: Hub, bot: telegram.Bot, timeout: float) -> None:
        self.hub = hub
        self.bot = bot
        self.timeout = timeout

    async def send(self, item: OutboxItem) -> int:
        """One try; any failure is a `SendFailed` with a reason a person can read."""
        if item.kind == "command":
            return await self._send_card(item)
        try:
            text = render.item_text(item.kind, item.payload)
        except Exception as exc:  # a bug must not block the chat: dead-letter it
            raise SendFailed(f"ccr could not build this message ({type(exc).__name__})",
                             permanent=True, category="internal") from None
        rows = render.buttons(item.kind, item.payload)
        if item.kind == "notification" and richtext.CUT_MARKER in text:
            rows.append([("📄 Show full reply", "fm:")])
        return await self._send_new(item, text, keyboard(rows))

    async def _send_new(self, item: OutboxItem, text: str,
                        markup: InlineKeyboardMarkup | None) -> int:
        """Send as a new message: in the item's topic, or General when the topic is gone."""
        reply = (ReplyParameters(message_id=item.reply_to, allow_sending_without_reply=True)
                 if item.reply_to else None)
        thread = await topics.thread_for(self.hub, item)
        try:
            msg = await self.bot.send_message(
                chat_id=item.chat_id, text=text, parse_mode=ParseMode.HTML,
                reply_parameters=reply, link_preview_options=None,
                reply_markup=markup, message_thread_id=thread,
            )
        except TelegramError as exc:
            if thread is not None and topics.thread_gone(exc):  # deleted: say it in General
                await topics.thread_lost(self.hub, item, thread)
                return await self._send_new(replace(item, thread_id=GENERAL), text, markup)
            raise self._failure(exc) from None
        return int(msg.message_id)

    async def _send_card(self, item: OutboxItem) -> int:
        """A command's live message: the first send, or an edit of it in place.

        "Not modified" is success (it already shows this); an edit whose message is gone
        is sent as a new message, so the final state is never lost.
        """
        preview = self.hub.settings.commands.preview_chars
        try:
            text = card.text(item.payload, preview_chars=preview)
            markup = keyboard([card.buttons(item.payload, preview_chars=preview)])
        except Exception as exc:
            raise SendFailed(f"ccr could not build this message ({type(exc).__name__})",
                             permanent=True, category="internal") from None
        if item.edit_message_id is not None:
            try:
                await self.bot.edit_message_text(
                    text, chat_id=item.chat_id, message_id=item.edit_message_id,
                    parse_mode=ParseMode.HTML, reply_markup=markup)
                return item.edit_message_id
            except BadRequest as exc:
                reason = exc.message.lower()
                if "not modified" in reason:
                    return item.edit_message_id
                if "not found" not in reason and "can't be edited" not in reason:
                    raise self._failure(exc) from None
            except TelegramError as exc:
                raise self._failure(exc) from None
        return await self._send_new(item, text, markup)

    def _failure(self, exc: TelegramError) -> SendFailed:
        """Telegram's error as a `SendFailed`: 400 and 403 are permanent, the rest are not."""
        if isinstance(exc, RetryAfter):
            delay = exc.retry_after
            seconds = float(delay if isinstance(delay, int | float) else delay.total_seconds())
            return SendFailed(f"Telegram asked ccr to slow down (flood control: retry after "
                              f"{seconds:g} s)", retry_after=seconds, category="rate_limited")
        if isinstance(exc, TimedOut):
            return SendFailed(f"Telegram did not answer within {self.timeout:g} s (timed out)",
                              category="timeout", uncertain=True)
        if isinstance(exc, Forbidden):
            return SendFailed(f"Telegram refused to deliver: the bot is blocked or not in "
                              f"this chat ({exc.message})", permanent=True, category="forbidden")
        if isinstance(exc, BadRequest):
            return SendFailed(f"Telegram rejected the message as invalid ({exc.message})",
                              permanent=True, category="rejected")
        if isinstance(exc, InvalidToken):
            return SendFailed(f"Telegram does not accept the bot's token ({exc.message})",
                              category="unauthorized")
        if isinstance(exc, NetworkError):
            return SendFailed(f"Telegram could not be reached or failed ({exc.message})",
                              category="network")
        return SendFailed(f"Telegram answered with an error ({exc.message})")
