"""The Telegram bot: python-telegram-bot running as a task in the hub's event loop.

Handlers translate an update into one service call; everything the hub says goes through
the outbox, which this module also sends (it is the delivery worker's `Sender`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from telegram import (
    CallbackQuery,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    TelegramError,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from ccr.core.errors import CcrError
from ccr.core.events import AlertAcknowledged, AlertResolved, HubLog
from ccr.store.outbox import OutboxItem
from ccr.telegram import (
    audit_log,
    command_buttons,
    drafts,
    gate,
    history,
    render,
    screen,
    session_control,
    topics,
)
from ccr.telegram.prompt_buttons import PromptButtons
from ccr.telegram.sender import OutboxSender
from ccr.telemetry.alerts import view as alert_view

if TYPE_CHECKING:
    from ccr.hub import Hub
    from ccr.services.commands import SubmitResult

ACK_WAIT_S = 1.2
Button = Callable[[CallbackQuery, str], Awaitable[str | None]]


class TelegramBot:
    """Owns the PTB Application; serves only the allowed chats."""

    def __init__(self, hub: Hub, token: str) -> None:
        self.hub = hub
        cfg = hub.settings.telegram
        self.timeout = hub.settings.reliability.telegram_timeout_s
        builder: ApplicationBuilder = (  # type: ignore[type-arg]
            Application.builder().token(token)
            .rate_limiter(AIORateLimiter(max_retries=0))
            .get_updates_read_timeout(cfg.poll_timeout + 10)
            .connect_timeout(self.timeout).read_timeout(self.timeout)
            .write_timeout(self.timeout).pool_timeout(self.timeout)
        )
        if cfg.base_url:
            builder = builder.base_url(cfg.base_url)  # PTB appends the token
        self.app = builder.build()
        self.sender = OutboxSender(hub, self.app.bot, self.timeout)
        allowed = filters.Chat(chat_id=cfg.allowed_chats) if cfg.allowed_chats else None
        self._allowed = allowed
        self.update_id: int | None = None
        """The update being handled (button handlers record it against redelivery)."""
        self.buttons: dict[str, Button] = {"ack": self._ack_button}
        self.buttons["hi"] = history.pager(self)
        """Inline-button handlers by callback-data prefix: (query, rest) -> the answer."""
        command_buttons.register(self)
        drafts.register(self)
        session_control.register(self)
        screen.register(self)
        audit_log.register(self)
        self.buttons["p"] = PromptButtons(hub, self.app.bot).tap
        self._poller: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        if hub.topics.enabled:
            hub.topics.api = topics.TelegramTopics(self.app.bot)
        if allowed is not None:
            self.app.add_handler(CommandHandler(["start", "help"], self._help, filters=allowed))
            self.app.add_handler(CommandHandler("sessions", self._sessions, filters=allowed))
            self.app.add_handler(CommandHandler("cmd", self._cmd, filters=allowed))
            self.app.add_handler(CommandHandler("dlq", self._dlq, filters=allowed))
            self.app.add_handler(CommandHandler("status", self._status, filters=allowed))
            self.app.add_handler(CommandHandler("alerts", self._alerts, filters=allowed))
            self.app.add_handler(CommandHandler("history", history.handler(self), filters=allowed))
            self.app.add_handler(MessageHandler(
                allowed & filters.TEXT & ~filters.COMMAND, self._text))
        self.app.add_handler(CallbackQueryHandler(self._callback))
        self.app.add_handler(MessageHandler(filters.ALL, self._ignored), group=1)

    async def start(self) -> None:
        await self.app.initialize()
        await self.app.start()
        await self.app.bot.delete_webhook(drop_pending_updates=False)
        self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
        subscribed = asyncio.Event()
        self._follower = asyncio.create_task(self._follow_alerts(subscribed),
                                             name="telegram-alerts")
        await subscribed.wait()
        me = self.app.bot.username
        self.hub.log("info", f"Telegram bot @{me} is polling")

    async def _poll(self) -> None:
        """Long polling that confirms an update only once it was handled.

        PTB's Updater confirms a batch (the next getUpdates offset) as soon as it is queued,
        so a hub killed before handling it lost those messages. Here the offset moves past an
        update only after its handler recorded it; a crash makes Telegram hand it out again,
        and the update ids stored with commands keep a redelivered one from being typed twice.
        """
        offset: int | None = None
        timeout = int(self.hub.settings.telegram.poll_timeout)
        while True:
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset, timeout=timeout, read_timeout=timeout + 10)
            except TelegramError as exc:
                self._poll_error(exc)
                await asyncio.sleep(1.0)
                continue
            for update in updates:
                try:
                    await gate.process(self, update)  # the sender's role, then audited
                except Exception as exc:  # one bad update must not stop the bot
                    self.hub.log("error", f"Telegram update {update.update_id}: {exc!r}")
                offset = update.update_id + 1

    async def stop(self) -> None:
        for task in (self._poller, self._follower):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            if self.app.running:
                await self.app.stop()
        with contextlib.suppress(Exception):
            await self.app.shutdown()

    def _poll_error(self, exc: TelegramError) -> None:
        self.hub.bus.publish(HubLog("warning", f"Telegram polling: {exc.message}"))

    # --- sending (the delivery worker's Sender) ------------------------------------------

    async def send(self, item: OutboxItem) -> int:
        """One try at one outbox item (ccr.telegram.sender)."""
        return await self.sender.send(item)

    # --- handlers -------------------------------------------------------------------------

    async def _help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message:
            await update.effective_message.reply_html(render.HELP)

    async def _sessions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        if msg is None:
            return
        for text in render.sessions_list(await self.hub.sessions.live(), self.hub.clock()):
            await msg.reply_html(text)

    async def _cmd(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        if msg is None or msg.text is None:
            return
        rest = msg.text.split(maxsplit=1)[1] if len(msg.text.split(maxsplit=1)) > 1 else ""
        ref, _, text = rest.strip().partition(" ") if rest.strip() else ("", "", "")
        if "\n" in ref:
            ref, _, more = ref.partition("\n")
            text = more + (" " + text if text else "")
        if not ref:
            await msg.reply_html("Usage: /cmd <code>HANDLE text</code>, e.g. "
                                 "<code>/cmd laptop:1 run the tests</code>. "
                                 "Send /sessions for the handles.")
            return
        if not await drafts.names_a_session(self, ref):
            await drafts.ask(self, update, msg, rest.strip())  # no handle: ask where it goes
            return
        await self._submit(update, msg, text=text, ref=ref)

    async def _dlq(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/dlq lists dead letters; /dlq retry ID|all sends them again. Admins only."""
        msg, user = update.effective_message, update.effective_user
        if msg is None or msg.text is None:
            return
        if user is None or user.id not in self.hub.settings.telegram.admins:
            self.hub.log("warning", f"/dlq refused to user {user.id if user else '?'}: "
                                    "not in [telegram] admins")
            await msg.reply_html("🔒 " + render.error_text(
                CcrError("admin_only", what="/dlq").to_dict()))
            return
        args = msg.text.split()[1:]
        if not args or args == ["list"]:
            entries = await self.hub.dlq.list()
            for text in render.dlq_list(entries, self.hub.clock(), self.hub.dlq.schedule.cycles):
                await msg.reply_html(text)
            return
        if len(args) == 2 and args[0] == "retry":
            await msg.reply_html(await self._dlq_retry(args[1]))
            return
        await msg.reply_html("Usage: /dlq lists undelivered messages; "
                             "<code>/dlq retry ID</code> or <code>/dlq retry all</code> "
                             "sends them again.")

    async def _dlq_retry(self, which: str) -> str:
        if which == "all":
            moved = await self.hub.dlq.retry_all()
            if not moved:
                return "Nothing to retry: no dead letter is waiting."
            return (f"🔁 {len(moved)} dead letter(s) are back in line; they are sent in their "
                    "original order. /dlq shows any that fail again.")
        entry_id = int(which.lstrip("#")) if which.lstrip("#").isdigit() else -1
        try:
            result = await self.hub.dlq.retry(entry_id)
        except CcrError as exc:
            return "❌ " + render.error_text(exc.to_dict())
        if result.moved:
            return f"🔁 Dead letter #{entry_id} is back in line and will be sent now."
        return f"Dead letter #{entry_id} is already {result.entry.state}; nothing to do."

    async def _text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        if msg is None or msg.text is None:
            return
        if await topics.route_text(self, update, msg):
            return
        replied = msg.reply_to_message
        if replied is None:
            await msg.reply_html("To answer Claude, <b>reply</b> to its notification, or use "
                                 "/cmd <code>HANDLE text</code>. /sessions lists the handles.")
            return
        session = await self.hub.sessions.for_message(msg.chat_id, replied.message_id)
        if session is None and replied.from_user is not None and replied.from_user.is_bot:
            await self.hub.delivery.settled()
            session = await self.hub.sessions.for_message(msg.chat_id, replied.message_id)
        if session is None:
            await msg.reply_html("That message is not a ccr notification, so I don't know "
                                 "which session to type into. Reply to a notification, or use "
                                 "/cmd <code>HANDLE text</code>.")
            return
        await self._submit(update, msg, text=msg.text, session_id=session.id)

    async def _submit(self, update: Update, msg: Message, *, text: str,
                      ref: str | None = None, session_id: int | None = None) -> None:
        task, _ = await self.launch(lambda accepted: self.hub.commands.submit(
            text=text, ref=ref, session_id=session_id, source="telegram",
            chat_id=msg.chat_id, update_id=update.update_id, reply_to=msg.message_id,
            accepted=accepted, thread_id=topics.typed_thread(self.hub, msg),
        ))
        if not self.hub.commands.rich:  # the live message is the acknowledgement otherwise
            self.hub.keep(asyncio.create_task(self._ack_if_slow(task, msg, ref)))

    async def launch(self, submit: Callable[[asyncio.Event], Coroutine[Any, Any, SubmitResult]]
                     ) -> tuple[asyncio.Task[SubmitResult], SubmitResult | None]:
        """Start a submission and return once it is recorded, not once it is typed: its task,
        and its result when it already ended (an error, a redelivered update).

        So the update may be confirmed: updates are handled one by one, and a command to one
        session must not wait for another's typing (one pane keeps its order: FIFO locks).
        """
        accepted = asyncio.Event()
        task = asyncio.create_task(submit(accepted))
        self.hub.keep(task)
        recorded = asyncio.create_task(accepted.wait())
        await asyncio.wait({task, recorded}, return_when=asyncio.FIRST_COMPLETED)
        recorded.cancel()
        return task, (task.result() if task.done() else None)

    async def _ack_if_slow(self, task: asyncio.Task[object], msg: Message,
                           ref: str | None) -> None:
        """The result comes through the outbox; if it takes a while, say so now."""
        done, _ = await asyncio.wait({task}, timeout=ACK_WAIT_S)
        if not done:
            with contextlib.suppress(TelegramError):
                await msg.reply_html(f"⏳ Typing into <b>{render.esc(ref or 'the session')}</b>… "
                                     "I'll confirm when it is done.")

    async def _ignored(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        allowed = self.hub.settings.telegram.allowed_chats
        if chat.id not in allowed:
            self.hub.log("warning", f"ignored an update from chat {chat.id}: it is not in "
                                    "[telegram] allowed_chats")

    # --- health and alerts ------------------------------------------------------------------

    def _is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.hub.settings.telegram.admins

    async def _status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/status: the hub's health, per server (any allowed chat)."""
        msg = update.effective_message
        if msg is None:
            return
        active = await self.hub.alerts.active()
        await msg.reply_html(render.status(self.hub.health().to_dict(), len(active)))

    async def _alerts(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/alerts lists active alerts; /alerts ack ID acknowledges one (admins only)."""
        msg, user = update.effective_message, update.effective_user
        if msg is None or msg.text is None:
            return
        args = msg.text.split()[1:]
        if not args or args == ["list"]:
            views = [alert_view(a) for a in await self.hub.alerts.active()]
            for text in render.alerts_list(views):
                await msg.reply_html(text)
            return
        if len(args) == 2 and args[0] == "ack":
            _, answer = await self._ack(args[1].lstrip("#"), user.id if user else None)
            await msg.reply_html(answer)
            return
        await msg.reply_html("Usage: /alerts lists active alerts; "
                             "<code>/alerts ack ID</code> acknowledges one (admins).")

    async def _ack(self, raw_id: str, user_id: int | None) -> tuple[bool, str]:
        """Acknowledge for a Telegram user: (changed, what to tell them). Validates it all."""
        if not self._is_admin(user_id):
            self.hub.log("warning", f"alert acknowledgement refused to user {user_id}: "
                                    "not a Telegram admin")
            return False, "🔒 Only the hub's admins can acknowledge alerts."
        if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 18:
            return False, "That is not an alert number; /alerts lists them."
        try:
            result = await self.hub.alerts.acknowledge(int(raw_id), f"telegram:{user_id}")
        except CcrError as exc:
            return False, render.esc(exc.message)
        if not result.changed:
            return False, (f"Alert #{result.alert.id} was already acknowledged by "
                           f"{render.esc(result.alert.acknowledged_by or '?')}.")
        return True, f"🔕 Alert #{result.alert.id} acknowledged: quiet until it resolves."

    async def _callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An inline button. Its data is `prefix:rest`; each prefix has one handler in
        `self.buttons`. Unknown, forged or stale data is answered and changes nothing."""
        query = update.callback_query
        if query is None:
            return
        data = query.data or ""
        prefix, _, rest = data.partition(":")
        handler = self.buttons.get(prefix)
        chat = query.message.chat.id if query.message is not None else None
        text: str | None
        self.update_id = update.update_id  # updates are handled one at a time
        if handler is None or len(data) > 64:
            text = "This button is not valid (any more)."
        elif prefix != "ack" and chat not in self.hub.settings.telegram.allowed_chats:
            self.hub.log("warning", f"button refused: chat {chat} is not in "
                                    "[telegram] allowed_chats")
            text = "This chat is not allowed to use ccr."
        else:
            text = await handler(query, rest)
        with contextlib.suppress(TelegramError):
            await query.answer(_plain(text or ""), show_alert=False)

    async def _ack_button(self, query: CallbackQuery, rest: str) -> str:
        _, text = await self._ack(rest, query.from_user.id if query.from_user else None)
        return text

    async def _follow_alerts(self, subscribed: asyncio.Event) -> None:
        """An alert acknowledged (by any face) or resolved: update its messages, drop Ack."""
        async with self.hub.bus.subscribe() as queue:
            subscribed.set()
            while True:
                event = await queue.get()
                if isinstance(event, AlertAcknowledged | AlertResolved):
                    try:
                        await self._refresh_alert(event.alert_id)
                    except Exception as exc:  # an edit that fails loses nothing
                        self.hub.log("warning", f"could not update alert {event.alert_id} "
                                                f"on Telegram: {exc!r}")

    async def _refresh_alert(self, alert_id: int) -> None:
        from ccr.store.alerts import messages

        alert = await self.hub.alerts.get(alert_id)
        if alert is None:
            return
        text = render.alert({**alert_view(alert), "phase": "fired"})
        for chat_id, message_id in await messages(self.hub.db, alert_id):
            with contextlib.suppress(BadRequest):  # deleted, or already showing this
                await self.app.bot.edit_message_text(
                    text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML,
                    reply_markup=None)


def _plain(text: str) -> str:
    """answerCallbackQuery takes plain text (no HTML), at most 200 characters."""
    import html
    import re

    return render.clip(html.unescape(re.sub(r"<[^>]+>", "", text)), 200)
