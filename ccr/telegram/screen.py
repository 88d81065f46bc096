"""/screen HANDLE, /tail HANDLE [N] and the 🖼 Screen button (`scr:<session token>` under
notifications, `scr:<command id>` under a command's message).

The picture goes as a photo: it shows inline on a phone, readable at a glance, where a
document shows as a file to open. Telegram re-encodes photos (JPEG), which keeps a terminal's
text legible at these sizes; the exact PNG is `ccr screen -o FILE` or the API. A photo
Telegram refuses (a very long or wide pane) goes as a document instead. Each handler is one
ccr.services.screens call; refusals come from the error hierarchy.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from telegram import CallbackQuery, InputFile, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CommandHandler, ContextTypes

from ccr.core.errors import CcrError
from ccr.core.redact import redact
from ccr.services.screens import Picture, Tail
from ccr.telegram import render, topics

if TYPE_CHECKING:
    from ccr.telegram.bot import TelegramBot

TOKEN = re.compile(r"^[a-z0-9]{8}$")
COMMAND_ID = re.compile(r"^c[0-9a-f]{10}$")
NOT_VALID = "This button is not valid (any more)."
CAPTION = 1024


def screen_button(token: str) -> tuple[str, str] | None:
    """The Screen button for a session, or None when the token is not one."""
    return ("🖼 Screen", f"scr:{token}") if TOKEN.match(token or "") else None


def register(bot: TelegramBot) -> None:
    ui = ScreenCommands(bot)
    if bot._allowed is not None:
        bot.app.add_handler(CommandHandler("screen", ui.screen, filters=bot._allowed))
        bot.app.add_handler(CommandHandler("tail", ui.tail, filters=bot._allowed))
    bot.buttons["scr"] = ui.tapped


def caption(p: Picture) -> str:
    s = p.session
    at = time.strftime("%H:%M:%S %Z", time.localtime(p.taken_at))
    return render.clip(redact(f"🖼 {s.handle} · {s.project_name} on {s.server_id} · {at} · "
                              f"{p.width}×{p.height}"), CAPTION)


def fallback_text(p: Picture) -> str:
    """The screen as text when no picture could be drawn, the note first."""
    head = f"🖼 <b>{render.esc(p.session.handle)}</b> · <i>{render.esc(p.note)}</i>\n"
    room = render.LIMIT - len(head) - 20
    return head + f"<pre>{render.esc(_last_fitting(p.text, room))}</pre>"


def tail_text(t: Tail) -> str:
    head = f"📜 <b>{render.esc(t.session.handle)}</b> · last {t.lines} lines"
    if t.capped_from is not None:
        head += f" (you asked for {t.capped_from}; {t.lines} is the most)"
    if not t.text.strip():
        return head + "\n<i>The pane is empty.</i>"
    room = render.LIMIT - len(head) - 120
    shown = _last_fitting(t.text, room)
    kept = shown.count("\n") + 1
    total = t.text.count("\n") + 1
    if kept < total:
        head += (f"\n<i>Only the last {kept} of {total} fit in one message; "
                 f"`ccr tail {render.esc(t.session.handle)} -n {t.lines}` shows them all.</i>")
    return f"{head}\n<pre>{render.esc(shown)}</pre>"


def _last_fitting(text: str, room: int) -> str:
    """The last lines of `text` whose escaped form fits `room` characters."""
    lines = text.split("\n")
    out: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = len(render.esc(line)) + 1
        if used + cost > room:
            break
        out.append(line)
        used += cost
    return "\n".join(reversed(out)) if out else render.clip(lines[-1], max(1, room // 6))


class ScreenCommands:
    def __init__(self, bot: TelegramBot) -> None:
        self.bot = bot
        self.hub = bot.hub

    async def screen(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        if msg is None or msg.text is None:
            return
        args = msg.text.split()[1:]
        ref = args[0] if args else await self._implied(msg)
        if ref is None:
            await msg.reply_html("Usage: /screen <code>HANDLE</code> sends the session's pane "
                                 "as a picture, e.g. <code>/screen laptop:1</code> (or send "
                                 "/screen as a reply to a notification, or in a session's "
                                 "topic). /sessions lists the handles.")
            return
        await self._send_picture(msg.chat_id, ref, reply_to=msg.message_id,
                                 thread=_thread(msg))

    async def tail(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        if msg is None or msg.text is None:
            return
        args = msg.text.split()[1:]
        if len(args) < 2 and (not args or args[0].isdigit()):
            implied = await self._implied(msg)
            if implied is not None:
                args = [implied, *args]
        if not args or len(args) > 2:
            await msg.reply_html("Usage: /tail <code>HANDLE</code> [<code>N</code>] sends the "
                                 "last N lines of the session's pane (30 when you give none), "
                                 "e.g. <code>/tail laptop:1 50</code>.")
            return
        try:
            result = await self.hub.screens.tail(args[0], args[1] if len(args) > 1 else None)
        except CcrError as exc:
            await msg.reply_html("❌ " + render.error_text(exc.to_dict()))
            return
        await msg.reply_html(tail_text(result))

    async def _implied(self, msg: Message) -> str | None:
        """The session a command without a handle means: the one whose notification it
        replies to, or the one whose topic it was sent in; None when neither."""
        replied = msg.reply_to_message
        if replied is not None and replied.message_id != msg.message_thread_id:
            session = await self.hub.sessions.for_message(msg.chat_id, replied.message_id)
            if session is not None:
                return session.token
        thread = topics.typed_thread(self.hub, msg)
        if thread:
            found = await self.hub.topics.session_for(thread)
            if found is not None:
                return found[1].token
        return None

    async def tapped(self, query: CallbackQuery, rest: str) -> str:
        """🖼 Screen: the picture, sent as a reply to the tapped message."""
        message = query.message
        if message is None:
            return NOT_VALID
        chat = message.chat.id
        if TOKEN.match(rest):
            ref = rest
        elif COMMAND_ID.match(rest):
            command = await self.hub.commands.get(rest)
            if command is None or (command.chat_id is not None and command.chat_id != chat):
                return NOT_VALID
            session = await self.hub.sessions.get(command.session_id)
            if session is None:
                return "That session has ended or expired; /sessions lists the live ones."
            ref = session.token
        else:
            return NOT_VALID
        return await self._send_picture(chat, ref, reply_to=message.message_id,
                                        thread=getattr(message, "message_thread_id", None))

    async def _send_picture(self, chat: int, ref: str, *, reply_to: int | None,
                            thread: int | None) -> str:
        """Send the pane's picture (or why not) to `chat`; a short answer for a button."""
        bot = self.bot.app.bot
        reply = (ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                 if reply_to else None)
        try:
            picture = await self.hub.screens.picture(ref)
        except CcrError as exc:
            await self._say(chat, "❌ " + render.error_text(exc.to_dict()), reply, thread)
            return exc.message
        if picture.png is None:
            await self._say(chat, fallback_text(picture), reply, thread)
            return picture.note
        try:
            try:
                await bot.send_photo(chat, InputFile(picture.png, filename=picture.filename),
                                     caption=caption(picture), reply_parameters=reply,
                                     message_thread_id=thread)
            except BadRequest as exc:  # dimensions Telegram will not take as a photo
                self.hub.log("info", f"screen sent as a document: {exc.message}")
                await bot.send_document(chat, InputFile(picture.png, filename=picture.filename),
                                        caption=caption(picture), reply_parameters=reply,
                                        message_thread_id=thread)
        except TelegramError as exc:
            self.hub.log("warning", f"screen of {picture.session.handle} not sent: "
                                    f"{exc.message}")
            return f"Telegram did not take the picture ({exc.message}); try again."
        return f"Screen of {picture.session.handle}."

    async def _say(self, chat: int, text: str, reply: ReplyParameters | None,
                   thread: int | None) -> None:
        try:
            await self.bot.app.bot.send_message(chat, text, parse_mode=ParseMode.HTML,
                                                reply_parameters=reply,
                                                message_thread_id=thread)
        except TelegramError as exc:
            self.hub.log("warning", f"screen answer not sent: {exc.message}")


def _thread(msg: Message) -> int | None:
    return msg.message_thread_id if msg.is_topic_message else None
