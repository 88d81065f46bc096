"""The buttons on a command's live message: Cancel (and its confirmation), Retry/Re-run,
Full reply, Sessions and Help. Each validates its data and answers in plain words."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from telegram import CallbackQuery
from telegram.constants import ParseMode
from telegram.error import TelegramError

from ccr.core.errors import CATALOG, CcrError
from ccr.core.models import Command, CommandState
from ccr.services import cards
from ccr.telegram import card, render
from ccr.telegram.fullreply import send_full_reply
from ccr.telegram.keyboard import keyboard

if TYPE_CHECKING:
    from ccr.telegram.bot import TelegramBot

COMMAND_ID = re.compile(r"^c[0-9a-f]{10}$")


def register(bot: TelegramBot) -> None:
    buttons = CommandButtons(bot)
    bot.buttons.update({"c": buttons.cancel, "cy": buttons.interrupt, "cn": buttons.keep,
                        "r": buttons.rerun, "f": buttons.full_reply,
                        "fm": buttons.full_notification, "s": buttons.sessions,
                        "h": buttons.help})


class CommandButtons:
    def __init__(self, bot: TelegramBot) -> None:
        self.bot = bot
        self.hub = bot.hub

    async def _visible(self, cid: str, query: CallbackQuery) -> Command:
        """A command this chat may act on: its own, or one that came from no chat."""
        command = await self._command(cid)
        if command.chat_id is not None and command.chat_id != _chat(query):
            raise CcrError("button_invalid", why="it belongs to another chat")
        return command

    async def _command(self, cid: str) -> Command:
        if not COMMAND_ID.match(cid):
            raise CcrError("button_invalid", why="it does not name a command")
        command = await self.hub.commands.get(cid)
        if command is None:
            raise CcrError("command_not_found", command=cid,
                           days=f"{self.hub.settings.commands.history_days:g}")
        return command

    async def cancel(self, query: CallbackQuery, cid: str) -> str:
        """Withdraw a command not yet typed; for a typed one, ask before pressing Ctrl-C."""
        try:
            command = await self._command(cid)
            if command.state is CommandState.EXECUTING:
                if command.chat_id != _chat(query):
                    raise CcrError("button_invalid", why="it belongs to another chat")
                await _markup(query, [[("⚠️ Yes, press Ctrl-C", f"cy:{cid}"),
                                       ("Keep it running", f"cn:{cid}")]])
                return (f"Claude is working on it in {command.handle}. Interrupting means "
                        "pressing Ctrl-C there: confirm below.")
            await self.hub.lifecycle.cancel(cid, chat_id=_chat(query))
        except CcrError as exc:
            return exc.message
        return "Withdrawn: nothing was typed."

    async def interrupt(self, query: CallbackQuery, cid: str) -> str:
        try:
            command = await self.hub.lifecycle.interrupt(
                (await self._command(cid)).id, chat_id=_chat(query))
        except CcrError as exc:
            await self.keep(query, cid)
            return exc.message
        return f"Ctrl-C pressed in {command.handle}."

    async def keep(self, query: CallbackQuery, cid: str) -> str:
        """Back from the Ctrl-C question: the buttons of the command's current state."""
        try:
            command = await self._command(cid)
        except CcrError as exc:
            return exc.message
        view = cards.view(command, now=self.hub.clock())
        await _markup(query, [card.buttons(
            view, preview_chars=self.hub.settings.commands.preview_chars)])
        return "Left running."

    async def rerun(self, query: CallbackQuery, cid: str) -> str:
        """Send the command's text again to its session, as a new command with its own
        live message. A redelivered button press has no second effect."""
        try:
            command = await self._visible(cid, query)
        except CcrError as exc:
            return exc.message
        message = query.message
        _, result = await self.bot.launch(lambda accepted: self.hub.commands.rerun(
            command.id, source="telegram", chat_id=_chat(query),
            update_id=self.bot.update_id, accepted=accepted,
            reply_to=message.message_id if message is not None else None))
        if result is not None and result.error is not None:
            return result.error.message
        if result is not None and result.duplicate:
            return "Already sent."
        return f"Sending it again to {command.handle}."

    async def full_reply(self, query: CallbackQuery, cid: str) -> str:
        """The whole of Claude's answer to a command: messages, or a file when long."""
        try:
            command = await self._visible(cid, query)
        except CcrError as exc:
            return exc.message
        return await self._send_full(query, command.reply or "", command.handle)

    async def full_notification(self, query: CallbackQuery, rest: str) -> str:
        """The whole reply a notification showed trimmed (kept with that message)."""
        message = query.message
        if message is None:
            return "This button is not valid (any more)."
        payload = await self.hub.delivery.payload_of(message.chat.id, message.message_id)
        if payload is None:
            return "This message is no longer known to ccr (kept 30 days)."
        text = str(payload.get("reply_full") or payload.get("reply") or "")
        return await self._send_full(query, text, str(payload.get("handle") or "Claude"))

    async def _send_full(self, query: CallbackQuery, text: str, title: str) -> str:
        if not text.strip():
            return "Claude's reply is empty."
        message = query.message
        try:
            await send_full_reply(
                self.bot.app.bot, _chat(query), text, title=title,
                reply_to=message.message_id if message is not None else None,
                file_after=self.hub.settings.commands.file_after_chars)
        except TelegramError as exc:
            return f"Telegram did not take the reply ({exc.message}); try again."
        return "Full reply sent."

    async def sessions(self, query: CallbackQuery, rest: str) -> str:
        chat = _chat(query)
        for text in render.sessions_list(await self.hub.sessions.live(), self.hub.clock()):
            await self.bot.app.bot.send_message(chat, text, parse_mode=ParseMode.HTML)
        return ""

    async def help(self, query: CallbackQuery, code: str) -> str:
        if code not in CATALOG:
            return "This button is not valid (any more)."
        steps = CATALOG[code].steps
        lines = ["❓ <b>What you can do</b>"]
        lines += [f"{i}. {render.esc(s.replace('{', '').replace('}', ''))}"
                  for i, s in enumerate(steps, 1)]
        lines.append("\n" + render.HELP)
        await self.bot.app.bot.send_message(_chat(query), "\n".join(lines),
                                            parse_mode=ParseMode.HTML)
        return ""


def _chat(query: CallbackQuery) -> int:
    return query.message.chat.id if query.message is not None else 0


async def _markup(query: CallbackQuery, rows: list[list[tuple[str, str]]]) -> None:
    with contextlib.suppress(TelegramError):  # gone or unchanged: the answer still explains
        await query.edit_message_reply_markup(reply_markup=keyboard(rows))
