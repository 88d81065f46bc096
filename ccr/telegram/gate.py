"""Every Telegram update passes here first: the sender's role is checked, then the update is
handled inside an audit entry (ccr.core.roles, ccr.services.audit).

An update names one action: a command (`/cmd`, `/alerts ack`), a reply typed into a session,
or an inline button (by its callback-data prefix). A refused one types nothing, is answered
with the reason and is recorded as refused; an allowed one that changes something is recorded
once, keyed by its update id, so a redelivered update adds no second entry.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from telegram import Update
from telegram.error import TelegramError

from ccr.core import roles
from ccr.core.errors import CcrError
from ccr.services.audit import Actor
from ccr.telegram import render

if TYPE_CHECKING:
    from ccr.telegram.bot import TelegramBot

SUBCOMMANDS = {("alerts", "ack"): "alerts.ack", ("dlq", "retry"): "dlq.retry",
               ("dlq", "purge"): "dlq.purge"}
ALIASES = {"start": "help"}


def classify(update: Update) -> tuple[str, str] | None:
    """(action name, what was asked) for an update that asks something; None otherwise."""
    query = update.callback_query
    if query is not None:
        data = query.data or ""
        return roles.BUTTONS.get(data.partition(":")[0], "forged button"), f"button {data}"
    msg = update.effective_message  # an edited message is handled too: checked the same
    if msg is None or msg.text is None:
        return None
    text = msg.text
    if text.startswith("/"):
        words = text.split()
        name = words[0][1:].split("@", 1)[0].lower() if words else ""
        name = ALIASES.get(name, name)
        sub = words[1].lower() if len(words) > 1 else ""
        return SUBCOMMANDS.get((name, sub), name), text
    if msg.reply_to_message is not None or msg.is_topic_message:
        return "text", text
    return None


def actor_of(update: Update) -> Actor:
    user = update.effective_user
    if user is None:
        return Actor("telegram", "telegram:?")
    return Actor("telegram", f"telegram:{user.id}", user.full_name)


def _gated(bot: TelegramBot, update: Update, name: str) -> bool:
    """Updates from allowed chats are checked; so is the alert Ack button, which admins
    also get in chats of their own."""
    chat = update.effective_chat
    if chat is not None and chat.id in bot.hub.settings.telegram.allowed_chats:
        return True
    return name == "alerts.ack" and update.callback_query is not None


async def process(bot: TelegramBot, update: Update) -> None:
    """Handle one update as its sender's role allows; audit what changes something."""
    asked = classify(update)
    if asked is None or not _gated(bot, update, asked[0]):
        await bot.app.process_update(update)
        return
    name, what = asked
    hub = bot.hub
    user = update.effective_user
    role = roles.telegram_role(hub.settings, user.id if user else None)
    actor = actor_of(update)
    key = f"telegram:{update.update_id}"
    error = roles.refusal(role, name)
    if error is not None:
        hub.log("warning", f"refused {name} to {actor.id} ({role.label}): needs "
                           f"{roles.action(name).needs.label}")
        await hub.audit.refused(actor, name, what, error, key=key)
        await _answer(update, error)
        return
    if not roles.action(name).changes:
        await bot.app.process_update(update)
        return
    async with hub.audit.acting(actor, name, what, key=key):
        await bot.app.process_update(update)


async def _answer(update: Update, error: CcrError) -> None:
    """Tell the sender why nothing happened: a popup for a button, a reply for a message."""
    with contextlib.suppress(TelegramError):
        if update.callback_query is not None:
            await update.callback_query.answer(error.message[:200], show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_html(
                "🔒 " + render.error_text(error.to_dict()))
