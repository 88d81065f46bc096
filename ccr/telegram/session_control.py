"""/new, /stop, /clear, /restart and /esc, and their buttons: Stop and Clear under a session's
notifications, the stop confirmation, and the servers and directories /new offers.

Each handler turns an update into one ccr.services.session_control call. What takes seconds
(Claude's first hook, a pane closing) goes on after the update is recorded, so the bot keeps
serving; its message then shows the outcome, edited in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from telegram import CallbackQuery, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import CommandHandler, ContextTypes

from ccr.core.errors import CcrError
from ccr.core.models import Session
from ccr.services.session_control import Cleared, Started, Stopped
from ccr.telegram import render
from ccr.telegram.keyboard import keyboard

if TYPE_CHECKING:
    from ccr.telegram.bot import TelegramBot

T = TypeVar("T")
Rows = list[list[tuple[str, str]]]
Shown = tuple[str, Rows]
TOKEN = re.compile(r"^[a-z0-9]{8}$")
SERVER = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
NOT_VALID = "This button is not valid (any more)."
HOW = {"exit": "Claude exited on /exit",
       "killed": "Claude did not exit within a few seconds, so its pane was closed",
       "gone": "its pane was already gone"}


def register(bot: TelegramBot) -> None:
    ui = SessionControls(bot)
    allowed = bot._allowed
    if allowed is not None:
        for name, handler in (("new", ui.new), ("stop", ui.stop), ("clear", ui.clear),
                              ("restart", ui.restart), ("esc", ui.esc)):
            bot.app.add_handler(CommandHandler(name, handler, filters=allowed))
    bot.buttons.update({"ss": ui.ask_stop, "sy": ui.stop_confirmed, "sn": ui.keep,
                        "sc": ui.clear_tapped, "ns": ui.server_tapped, "nd": ui.dir_tapped,
                        "nh": ui.home_tapped})


@dataclass(frozen=True)
class Place:
    """Where an answer goes: a new message replying to `reply_to`, or an edit of `edit`."""

    chat_id: int
    reply_to: int | None = None
    edit: int | None = None
    thread: int | None = None


def confirm_rows(token: str) -> Rows:
    return [[("⏹ Yes, stop it", f"sy:{token}"), ("Keep it running", f"sn:{token}")]]


def about(s: Session) -> str:
    return (f"<b>{render.esc(s.handle)}</b> · {render.esc(s.project_name)} on "
            f"{render.esc(s.server_id)}")


def failed(err: CcrError, screen: str = "") -> Shown:
    text = "❌ " + render.error_text(err.to_dict())
    if screen.strip():
        text += (f"\n<b>Its window shows:</b>\n"
                 f"<pre>{render.esc(render.clip(screen, 1500))}</pre>")
    return text, []


def started_text(r: Started) -> Shown:
    if r.session is None:
        return failed(r.error or CcrError("internal", detail="no session"), r.screen)
    s = r.session
    verb = "continues" if r.resumed else "started"
    return (f"✅ Claude {verb}: {about(s)}\n<code>{render.esc(r.directory)}</code> · "
            f"reported in {r.seconds:.1f} s\nReply to its notifications, or "
            f"/cmd {render.esc(s.handle)} &lt;text&gt;.",
            render.session_buttons({"token": s.token, "answerable": True}))


def stopped_text(r: Stopped) -> Shown:
    return (f"⏹ {about(r.session)} stopped: {HOW.get(r.how, r.how)}. It is off /sessions.",
            [])


def cleared_text(r: Cleared) -> Shown:
    if r.how:
        seen = ("the screen shows it" if r.how == "screen"
                else "Claude reported a new conversation")
        return (f"🧹 {about(r.session)}: /clear took, a fresh conversation ({seen}).",
                render.session_buttons({"token": r.session.token, "answerable": True}))
    err = CcrError("clear_unconfirmed", handle=r.session.handle, seconds="5")
    return failed(err, r.screen)


def restarted_text(r: tuple[Stopped, Started]) -> Shown:
    stopped, started = r
    text, rows = started_text(started)
    return f"{stopped_text(stopped)[0]}\n{text}", rows


def dir_label(path: str) -> str:
    return f"📁 {path}" if len(path) <= 40 else f"📁 …{path[-39:]}"


class SessionControls:
    def __init__(self, bot: TelegramBot) -> None:
        self.bot = bot
        self.hub = bot.hub

    # --- commands -----------------------------------------------------------------------

    async def new(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/new, /new SERVER (directory buttons), /new SERVER DIR (start)."""
        msg = update.effective_message
        if msg is None or msg.text is None:
            return
        args = msg.text.split(maxsplit=2)[1:]
        place = self._reply_place(msg)
        if not args:
            servers = self.hub.control.server_ids()
            if len(servers) == 1:
                await self._show(place, *await self._dirs(servers[0]))
                return
            rows = [[(f"🖥 {s}", f"ns:{s}")] for s in servers[:20]]
            await self._show(place, "Start Claude on which server? Or send "
                                    "<code>/new SERVER DIR</code>.", rows)
            return
        if len(args) == 1:
            try:
                server = self.hub.control.server(args[0]).id
            except CcrError as exc:
                await self._show(place, *failed(exc))
                return
            await self._show(place, *await self._dirs(server))
            return
        await self._start(place, args[0].lower(), args[1], update.update_id)

    async def stop(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stop HANDLE asks first; the button does it."""
        msg, ref = self._args(update)
        if msg is None:
            return
        place = self._reply_place(msg)
        if not ref:
            await self._show(place, self._usage("stop", "ends Claude in that session, after "
                                                        "you confirm"))
            return
        try:
            session = await self.hub.sessions.resolve(ref)
        except CcrError as exc:
            await self._show(place, *failed(exc))
            return
        await self._show(place, f"Stop {about(session)}? Claude gets Escape and /exit; its "
                                "pane is closed if it lingers.", confirm_rows(session.token))

    async def clear(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg, ref = self._args(update)
        if msg is None:
            return
        place = self._reply_place(msg)
        if not ref:
            await self._show(place, self._usage("clear", "types /clear there: a fresh "
                                                         "conversation"))
            return
        await self._run(place, lambda ok: self.hub.control.clear(
            ref, update_id=update.update_id, accepted=ok),
            f"🧹 Typing /clear into <b>{render.esc(ref)}</b>…", cleared_text)

    async def restart(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg, ref = self._args(update)
        if msg is None:
            return
        place = self._reply_place(msg)
        if not ref:
            await self._show(place, self._usage("restart", "stops Claude there and starts it "
                                                           "again in the same directory with "
                                                           "--continue"))
            return
        await self._run(place, lambda ok: self.hub.control.restart(
            ref, update_id=update.update_id, accepted=ok),
            f"🔁 Restarting <b>{render.esc(ref)}</b>: stopping it, then starting Claude again "
            "with --continue…", restarted_text)

    async def esc(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg, ref = self._args(update)
        if msg is None:
            return
        place = self._reply_place(msg)
        if not ref:
            await self._show(place, self._usage("esc", "presses Escape there: Claude stops "
                                                       "what it is doing"))
            return
        await self._run(place, lambda ok: self.hub.control.esc(
            ref, update_id=update.update_id, accepted=ok),
            f"⎋ Pressing Escape in <b>{render.esc(ref)}</b>…",
            lambda s: (f"⎋ Escape pressed in {about(s)}: Claude stops what it was doing.",
                       []))

    # --- buttons ------------------------------------------------------------------------

    async def ask_stop(self, query: CallbackQuery, token: str) -> str:
        """Stop under a notification: the same message asks to confirm."""
        session = await self._session(token)
        if isinstance(session, str):
            return session
        await self._markup(query, confirm_rows(session.token))
        return f"Stop {session.handle}? Confirm below."

    async def stop_confirmed(self, query: CallbackQuery, token: str) -> str:
        session = await self._session(token)
        if isinstance(session, str):
            await self._markup(query, [])
            return session
        place = await self._button_place(query, notification_ok=True)
        if place.edit is None:  # a notification: it keeps its text, without buttons now
            await self._markup(query, [])
        return await self._run(place, lambda ok: self.hub.control.stop(
            session.token, update_id=self.bot.update_id, accepted=ok),
            f"⏹ Stopping {about(session)}…", stopped_text)

    async def keep(self, query: CallbackQuery, token: str) -> str:
        message = query.message
        if not TOKEN.match(token) or message is None:
            return NOT_VALID
        payload = await self.hub.delivery.payload_of(message.chat.id, message.message_id)
        if payload is not None:  # a notification: its own buttons again
            await self._markup(query, render.buttons("notification", payload))
        else:
            await self._show(Place(message.chat.id, edit=message.message_id), "Left running.")
        return "Left running."

    async def clear_tapped(self, query: CallbackQuery, token: str) -> str:
        session = await self._session(token)
        if isinstance(session, str):
            return session
        place = await self._button_place(query, notification_ok=False)
        return await self._run(place, lambda ok: self.hub.control.clear(
            session.token, update_id=self.bot.update_id, accepted=ok),
            f"🧹 Typing /clear into {about(session)}…", cleared_text)

    async def server_tapped(self, query: CallbackQuery, server: str) -> str:
        if not SERVER.match(server) or server not in self.hub.control.server_ids():
            return NOT_VALID
        place = await self._button_place(query, notification_ok=True)
        await self._show(place, *await self._dirs(server))
        return ""

    async def dir_tapped(self, query: CallbackQuery, rest: str) -> str:
        if not rest.isascii() or not rest.isdigit() or len(rest) > 18:
            return NOT_VALID
        found = await self.hub.control.dir_of(int(rest))
        if found is None:
            return NOT_VALID
        server, directory = found
        place = await self._button_place(query, notification_ok=True)
        return await self._start(place, server, directory, self.bot.update_id)

    async def home_tapped(self, query: CallbackQuery, server: str) -> str:
        if not SERVER.match(server) or server not in self.hub.control.server_ids():
            return NOT_VALID
        place = await self._button_place(query, notification_ok=True)
        return await self._start(place, server, "~", self.bot.update_id)

    # --- shared -------------------------------------------------------------------------

    async def _start(self, place: Place, server: str, directory: str,
                     update_id: int | None) -> str:
        return await self._run(place, lambda ok: self.hub.control.start(
            server, directory, update_id=update_id, accepted=ok),
            f"🚀 Starting Claude on <b>{render.esc(server)}</b> in "
            f"<code>{render.esc(directory.strip() or '~')}</code>… I'll name the session as "
            "soon as Claude reports.", started_text)

    async def _run(self, place: Place, make: Callable[[asyncio.Event], Awaitable[T | None]],
                   pending: str, outcome: Callable[[T], Shown]) -> str:
        """Start `make`; once the update is recorded, show its outcome if it has one (an
        error, a redelivery), else `pending`, and edit the outcome in when it comes."""
        accepted = asyncio.Event()
        task: asyncio.Task[T | CcrError | None] = asyncio.create_task(
            _caught(make(accepted)))
        self.hub.keep(task)
        waiter = asyncio.create_task(accepted.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            return await self._outcome(place, task.result(), outcome)
        shown = await self._show(place, pending)
        if shown is not None:
            place = replace(place, edit=shown)
        self.hub.keep(asyncio.create_task(self._finish(place, task, outcome)))
        return "Working on it: the message will say how it went."

    async def _finish(self, place: Place, task: asyncio.Task[T | CcrError | None],
                      outcome: Callable[[T], Shown]) -> None:
        await self._outcome(place, await task, outcome)

    async def _outcome(self, place: Place, result: T | CcrError | None,
                       outcome: Callable[[T], Shown]) -> str:
        if result is None or getattr(result, "duplicate", False):
            return "Already done."  # a redelivered update: its first delivery answered
        if isinstance(result, CcrError):
            await self._show(place, *failed(result))
            return result.message
        text, rows = outcome(result)
        await self._show(place, text, rows)
        return "Done." if not text.startswith("❌") else "It did not work: see the message."

    async def _dirs(self, server: str) -> Shown:
        dirs = await self.hub.control.recent_dirs(server)
        rows: Rows = [[(dir_label(path), f"nd:{sid}")] for sid, path in dirs]
        rows.append([("🏠 Home directory", f"nh:{server}")])
        text = (f"Start Claude on <b>{render.esc(server)}</b> in which directory? Or send "
                f"<code>/new {render.esc(server)} DIR</code> (absolute, or from the home "
                "directory).")
        if not dirs:
            text += "\n<i>No directory used there yet.</i>"
        return text, rows

    async def _session(self, token: str) -> Session | str:
        """The live session a button names, or what to answer."""
        if not TOKEN.match(token):
            return NOT_VALID
        try:
            return await self.hub.sessions.resolve(token)
        except CcrError:
            return "That session has ended or expired; /sessions lists the live ones."

    def _args(self, update: Update) -> tuple[Message | None, str]:
        msg = update.effective_message
        if msg is None or msg.text is None:
            return None, ""
        parts = msg.text.split()
        return msg, parts[1] if len(parts) > 1 else ""

    @staticmethod
    def _usage(command: str, what: str) -> str:
        return (f"Usage: /{command} <code>HANDLE</code> {what}; e.g. "
                f"<code>/{command} laptop:1</code>. /sessions lists the handles.")

    @staticmethod
    def _reply_place(msg: Message) -> Place:
        return Place(msg.chat_id, reply_to=msg.message_id,
                     thread=msg.message_thread_id if msg.is_topic_message else None)

    async def _button_place(self, query: CallbackQuery, *, notification_ok: bool) -> Place:
        """Edit the tapped message, unless it is a notification (answered below it)."""
        message = query.message
        assert message is not None  # checked by the bot before any button handler
        thread = getattr(message, "message_thread_id", None)
        if notification_ok:
            payload = await self.hub.delivery.payload_of(message.chat.id, message.message_id)
            if payload is None:
                return Place(message.chat.id, edit=message.message_id, thread=thread)
        return Place(message.chat.id, reply_to=message.message_id, thread=thread)

    async def _show(self, place: Place, text: str, rows: Rows | None = None) -> int | None:
        """Send or edit; the message's id, None when Telegram did not take it."""
        bot = self.bot.app.bot
        markup = keyboard(rows or [])
        try:
            if place.edit is not None:
                await bot.edit_message_text(text, chat_id=place.chat_id,
                                            message_id=place.edit, parse_mode=ParseMode.HTML,
                                            reply_markup=markup)
                return place.edit
            reply = (ReplyParameters(message_id=place.reply_to,
                                     allow_sending_without_reply=True)
                     if place.reply_to else None)
            sent = await bot.send_message(place.chat_id, text, parse_mode=ParseMode.HTML,
                                          reply_parameters=reply, reply_markup=markup,
                                          message_thread_id=place.thread)
            return int(sent.message_id)
        except TelegramError as exc:
            self.hub.log("warning", f"session control message not shown: {exc.message}")
            return None

    async def _markup(self, query: CallbackQuery, rows: Rows) -> None:
        with contextlib.suppress(TelegramError):  # gone or unchanged: the answer explains
            await query.edit_message_reply_markup(reply_markup=keyboard(rows))


async def _caught(coro: Awaitable[T | None]) -> T | CcrError | None:
    """The result, or the CcrError it raised (a face shows it; nothing to log)."""
    try:
        return await coro
    except CcrError as exc:
        return exc
