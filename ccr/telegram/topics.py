"""Topics on Telegram: the forum-topic calls, which topic a message goes to, and plain text
typed in a session's topic (it goes to that session, no handle and no reply needed).

The decisions are ccr.services.topics.TopicService's; this module only speaks Telegram.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from telegram import Bot, Message, Update
from telegram.error import BadRequest, TelegramError

from ccr.services.topics import TopicApiError, wanted_state
from ccr.store.outbox import OutboxItem
from ccr.store.topics import GENERAL, OPEN
from ccr.telegram import render

if TYPE_CHECKING:
    from ccr.hub import Hub
    from ccr.telegram.bot import TelegramBot

_UNCHANGED = ("topic_not_modified", "not modified")
_GONE = ("thread not found", "topic_id_invalid", "topic_deleted", "message thread not found")


class TelegramTopics:
    """ccr.services.topics.TopicApi over PTB's Bot."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def create(self, chat_id: int, name: str) -> int:
        try:
            topic = await self.bot.create_forum_topic(chat_id=chat_id, name=name)
        except TelegramError as exc:
            raise _error(exc) from None
        return int(topic.message_thread_id)

    async def rename(self, chat_id: int, thread_id: int, name: str) -> None:
        await self._call(self.bot.edit_forum_topic(chat_id=chat_id, message_thread_id=thread_id,
                                                   name=name))

    async def close(self, chat_id: int, thread_id: int) -> None:
        await self._call(self.bot.close_forum_topic(chat_id=chat_id,
                                                    message_thread_id=thread_id))

    async def reopen(self, chat_id: int, thread_id: int) -> None:
        await self._call(self.bot.reopen_forum_topic(chat_id=chat_id,
                                                     message_thread_id=thread_id))

    async def _call(self, call: Awaitable[bool]) -> None:
        try:
            await call
        except BadRequest as exc:
            if not any(s in exc.message.lower() for s in _UNCHANGED):  # already so: done
                raise _error(exc) from None
        except TelegramError as exc:
            raise _error(exc) from None


def _error(exc: TelegramError) -> TopicApiError:
    return TopicApiError(f"{type(exc).__name__}: {exc.message}", gone=thread_gone(exc))


def thread_gone(exc: TelegramError) -> bool:
    """Telegram's answer for a topic that no longer exists."""
    return isinstance(exc, BadRequest) and any(s in exc.message.lower() for s in _GONE)


# --- sending ---------------------------------------------------------------------------------

async def thread_for(hub: Hub, item: OutboxItem) -> int | None:
    """The message_thread_id to send `item` with (None: the chat's General topic).

    An item that names its thread goes there (a command's answers go where it was typed);
    a session's message to the topics chat goes to the session's topic, made on demand.
    """
    if item.thread_id is not None:
        return item.thread_id or None  # GENERAL (0) means no thread
    topics = hub.topics
    if not topics.enabled or item.chat_id != topics.chat_id or item.session_id is None:
        return None
    return await topics.thread(item.session_id)


async def thread_lost(hub: Hub, item: OutboxItem, thread_id: int) -> None:
    """Sending into `thread_id` failed because the topic is gone: forget it if it was the
    session's own, so its next message makes a new one."""
    if item.thread_id is None and item.session_id is not None:
        await hub.topics.gone(item.session_id, thread_id)
    else:
        hub.log("warning", f"topic thread {thread_id} in chat {item.chat_id} is gone; "
                           f"message {item.id} goes to the General topic")


def typed_thread(hub: Hub, msg: Message) -> int | None:
    """Where a message was typed, for the answers to go back there: its topic's thread,
    GENERAL for the topics chat's General topic, None anywhere else."""
    if not hub.topics.enabled or msg.chat_id != hub.topics.chat_id:
        return None
    if msg.is_topic_message and msg.message_thread_id:
        return int(msg.message_thread_id)
    return GENERAL


# --- incoming ----------------------------------------------------------------------------------

async def route_text(bot: TelegramBot, update: Update, msg: Message) -> bool:
    """Plain text in a topic of the topics chat: type it into the topic's session.

    Returns False when this is not a topic message (the caller handles it as usual). A reply
    to one of ccr's messages still goes to that message's session.
    """
    hub = bot.hub
    thread = typed_thread(hub, msg)
    if not thread or msg.text is None:
        return False
    replied = msg.reply_to_message
    if replied is not None and replied.message_id != thread:  # a reply, not the topic root
        session = await hub.sessions.for_message(msg.chat_id, replied.message_id)
        if session is not None:
            await bot._submit(update, msg, text=msg.text, session_id=session.id)
            return True
    found = await hub.topics.session_for(thread)
    now = hub.clock()
    if found is None:
        await msg.reply_html("This topic is not a ccr session, so I don't know where to type "
                             "that. Write in a session's topic, or use /cmd <code>HANDLE "
                             "text</code>; /sessions lists the handles.")
        return True
    topic, session = found
    if wanted_state(session, now) != OPEN:  # the session as it is now, not the topic's record
        why = "has expired" if session.expires_at <= now else "lost its tmux pane"
        await msg.reply_html(f"<b>{render.esc(topic.name)}</b> {why}, so nothing was typed. "
                             "/sessions lists the live ones; this topic opens again when "
                             "Claude reports from that pane.")
        return True
    await bot._submit(update, msg, text=msg.text, session_id=session.id)
    return True
