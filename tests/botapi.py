"""A Telegram Bot API stand-in: a real HTTP server that speaks the Bot API's wire format.

python-telegram-bot is pointed at it with `base_url`, so the bot's real HTTP client, its
request encoding and its error mapping are exercised. It serves long polling with offsets,
records everything the bot sends, parses HTML like Telegram (tags stripped, bad markup a 400,
over 4096 UTF-16 units a 400), and injects faults: an HTTP status (429 with retry_after,
5xx) or a delay longer than the client waits.

    with BotApiStandIn() as api:
        api.base_url   # "http://127.0.0.1:PORT/bot"; PTB appends the token
        api.push_text(chat_id, "/cmd laptop:1 hi")
        api.wait_for_message(lambda m: "laptop:1" in m["text"])

Also runnable for manual trials: `python -m tests.botapi --port 8081`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_ID = 777000111
BOT_USERNAME = "ccr_standin_bot"
LIMIT = 4096
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
         "a", "code", "pre", "blockquote", "tg-emoji"}


def u16len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class EntityParseError(ValueError):
    """Telegram's "can't parse entities" 400."""


class _TelegramHtml(HTMLParser):
    """Telegram's HTML subset: known tags only, properly nested; the text without tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            raise EntityParseError(f"Unsupported start tag \"{tag}\"")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise EntityParseError(f"Unexpected end tag \"{tag}\"")
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(raw: str) -> str:
    """The text Telegram would show, or EntityParseError like Telegram's 400."""
    parser = _TelegramHtml()
    parser.feed(raw)
    parser.close()
    if parser.stack:
        raise EntityParseError(f"Can't find end tag corresponding to start tag "
                               f"\"{parser.stack[-1]}\"")
    if parser.rawdata:
        raise EntityParseError("Unclosed start tag")
    return "".join(parser.text)


@dataclass
class Fault:
    """Answer the next `times` calls of `method` with `status` (or stall for `delay` s)."""

    method: str
    status: int
    times: int
    retry_after: int | None = None
    delay: float = 0.0
    lag: float = 0.0
    """Handled at once, answered `lag` s later: the message is on the phone, the bot not
    told yet."""
    when: Callable[[dict[str, Any]], bool] | None = None
    """Only calls whose parameters satisfy it."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Without it Nagle's algorithm adds ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        api = self.server.api
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 2 or not segments[0].startswith("bot"):
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = segments[0][3:], segments[1]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params = dict(parse_qsl(parts.query))
        params.update(_decode_body(self.headers.get("Content-Type", ""), body))
        if token != api.token:
            self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        status, payload = api.handle(method, params)
        self._reply(status, payload)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout we injected)


def _decode_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return dict(json.loads(body))
    if content_type.startswith("multipart/form-data"):
        return _multipart(content_type, body)
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    out: dict[str, Any] = {}
    for part in body.split(b"--" + boundary):
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep or b'name="' not in head:
            continue
        name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
        value = value.removesuffix(b"\r\n")
        if b"filename=" in head:
            filename = head.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
            out[name] = {"filename": filename, "content": value}
        else:
            out[name] = value.decode("utf-8", "replace")
    return out


def _json_param(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        return json.loads(value)
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: BotApiStandIn


class BotApiStandIn:
    """The stand-in's state: users' updates in, the bot's messages out, faults on demand."""

    def __init__(self, token: str = "123456:TEST-standin-token", port: int = 0) -> None:
        self.token = token
        self._cond = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 1
        self._confirmed = 0
        self.messages: list[dict[str, Any]] = []  # the bot's messages, latest text
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.documents: list[dict[str, Any]] = []
        self.photos: list[dict[str, Any]] = []
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        """Forum topics by (chat id, message_thread_id): name, state (open/closed/deleted)."""
        self._faults: list[Fault] = []
        self._user_messages: dict[int, dict[str, Any]] = {}
        self._delivered: list[dict[str, Any]] = []
        self._again: set[int] = set()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.api = self
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> BotApiStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> BotApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the user's side -----------------------------------------------------------------

    def push_text(self, chat_id: int, text: str, *, reply_to_message_id: int | None = None,
                  user_id: int | None = None, thread_id: int | None = None) -> int:
        """A user writes `text` in `chat_id` (a private chat: user id = chat id by default),
        in the forum topic `thread_id` if given (then, like Telegram, a message that replies
        to nothing else replies to the topic's first message)."""
        with self._cond:
            message: dict[str, Any] = {
                "message_id": self._new_message_id(), "date": int(time.time()),
                "chat": _chat(chat_id), "from": _user(user_id or chat_id), "text": text,
            }
            if thread_id is not None:
                message["message_thread_id"] = thread_id
                message["is_topic_message"] = True
                topic = self.topics.get((chat_id, thread_id))
                if reply_to_message_id is None and topic is not None:
                    message["reply_to_message"] = _topic_root(chat_id, topic)
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0] if text.split() else text
                message["entities"] = [{"type": "bot_command", "offset": 0,
                                        "length": u16len(command)}]
            if reply_to_message_id is not None:
                replied = self._find(chat_id, reply_to_message_id)
                if replied is not None:
                    message["reply_to_message"] = {k: v for k, v in replied.items()
                                                   if k in ("message_id", "date", "chat",
                                                            "from", "text")}
            self._user_messages[message["message_id"]] = message
            return self._push({"message": message})

    def push_edit(self, chat_id: int, message_id: int, text: str, *,
                  user_id: int | None = None) -> int:
        """A user edits their message `message_id` into `text` (an `edited_message` update)."""
        with self._cond:
            message: dict[str, Any] = {
                "message_id": message_id, "date": int(time.time()),
                "edit_date": int(time.time()), "chat": _chat(chat_id),
                "from": _user(user_id or chat_id), "text": text}
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0,
                                        "length": u16len(text.split(maxsplit=1)[0])}]
            return self._push({"edited_message": message})

    def push_callback(self, chat_id: int, message_id: int, data: str, *,
                      user_id: int | None = None) -> int:
        """A user taps an inline button with `data` under the bot's message `message_id`."""
        with self._cond:
            msg = self._find(chat_id, message_id) or {
                "message_id": message_id, "date": int(time.time()), "chat": _chat(chat_id),
                "from": _user(BOT_ID, bot=True), "text": ""}
            query = {"id": f"cq{self._next_update}", "from": _user(user_id or chat_id),
                     "chat_instance": str(chat_id), "data": data,
                     "message": _public(msg)}
            return self._push({"callback_query": query})

    def redeliver(self, update_id: int) -> None:
        """Hand out an update again, as Telegram does when its offset was never confirmed."""
        with self._cond:
            for update in self._delivered:
                if update["update_id"] == update_id:
                    self._updates.append(update)
                    self._again.add(update_id)
                    self._cond.notify_all()
                    return
        raise KeyError(update_id)

    def _push(self, body: dict[str, Any]) -> int:
        update = {"update_id": self._next_update, **body}
        self._next_update += 1
        self._updates.append(update)
        self._delivered.append(update)
        self._cond.notify_all()
        return int(update["update_id"])

    # --- faults --------------------------------------------------------------------------

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """The user deletes one of the bot's messages: later edits of it are 400s."""
        with self._cond:
            self.messages = [m for m in self.messages
                             if (m["chat_id"], m["message_id"]) != (chat_id, message_id)]
            self._cond.notify_all()

    def fail(self, method: str, status: int, *, times: int = 1, retry_after: int | None = None,
             delay: float = 0.0) -> None:
        """The next `times` calls of `method` fail with `status` (after `delay` s)."""
        with self._cond:
            self._faults.append(Fault(method, status, times, retry_after, delay))

    def stall(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls of `method` answer only after `seconds` (a timeout)."""
        self.fail(method, 0, times=times, delay=seconds)

    def lag(self, method: str, seconds: float, *, times: int = 1,
            when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """The next `times` calls of `method` (those `when` accepts) take effect at once and
        are answered `seconds` later."""
        with self._cond:
            self._faults.append(Fault(method, 0, times, lag=seconds, when=when))

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self._faults:
            if (fault.method == method and fault.times > 0
                    and (fault.when is None or fault.when(params))):
                fault.times -= 1
                return fault
        return None

    # --- the bot's side ------------------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._cond:
            self.calls.append((method, params))
            fault = self._take_fault(method, params)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return _error(fault.status, fault.retry_after)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method"}
        try:
            result = handler(params)
        except _BadRequest as exc:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}
        if fault is not None and fault.lag:
            time.sleep(fault.lag)
        return 200, {"ok": True, "result": result}

    def _m_getMe(self, p: dict[str, Any]) -> Any:
        return {"id": BOT_ID, "is_bot": True, "first_name": "ccr stand-in",
                "username": BOT_USERNAME, "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _m_deleteWebhook(self, p: dict[str, Any]) -> Any:
        return True

    def _m_setMyCommands(self, p: dict[str, Any]) -> Any:
        return True

    def _m_sendChatAction(self, p: dict[str, Any]) -> Any:
        return True

    def _m_close(self, p: dict[str, Any]) -> Any:
        return True

    def _m_getUpdates(self, p: dict[str, Any]) -> Any:
        """Like Telegram: an update is handed out until a later offset confirms it."""
        offset = int(p.get("offset") or 0)
        timeout = float(p.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            if offset:
                self._updates = [u for u in self._updates
                                 if u["update_id"] >= offset or u["update_id"] in self._again]
            while not self._updates:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)
            out = [dict(u) for u in self._updates[:100]]
            # A redelivered update is handed out once; its id is below any offset to come.
            again = {u["update_id"] for u in out} & self._again
            self._again -= again
            self._updates = [u for u in self._updates if u["update_id"] not in again]
            return out

    def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        chat_id = int(p["chat_id"])
        raw = str(p.get("text", ""))
        text = self._render(raw, p.get("parse_mode"))
        with self._cond:
            msg: dict[str, Any] = {
                "message_id": self._new_message_id(), "date": int(time.time()),
                "chat": _chat(chat_id), "from": _user(BOT_ID, bot=True), "text": text,
                "chat_id": chat_id, "raw": raw, "edits": [], "at": time.monotonic(),
                "edited_at": [], **self._thread_fields(chat_id, p),
            }
            reply = _json_param(p.get("reply_parameters"))
            if isinstance(reply, dict) and reply.get("message_id"):
                msg["reply_to_message_id"] = int(reply["message_id"])
            elif p.get("reply_to_message_id"):
                msg["reply_to_message_id"] = int(p["reply_to_message_id"])
            markup = _json_param(p.get("reply_markup"))
            if markup:
                msg["reply_markup"] = markup
            self.messages.append(msg)
            self._cond.notify_all()
            return _public(msg)

    def _m_editMessageText(self, p: dict[str, Any]) -> Any:
        chat_id, message_id = int(p["chat_id"]), int(p["message_id"])
        text = self._render(str(p.get("text", "")), p.get("parse_mode"))
        with self._cond:
            msg = self._find(chat_id, message_id)
            if msg is None:
                raise _BadRequest("message to edit not found")
            markup = _json_param(p.get("reply_markup"))
            if text == msg["text"] and markup == msg.get("reply_markup"):
                raise _BadRequest("message is not modified: specified new message content "
                                  "and reply markup are exactly the same as a current content "
                                  "and reply markup of the message")
            msg["edits"].append(msg["text"])
            msg.setdefault("edited_at", []).append(time.monotonic())
            msg["text"] = text
            msg["raw"] = str(p.get("text", ""))
            _set_markup(msg, markup)
            self._cond.notify_all()
            return _public(msg)

    def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> Any:
        chat_id, message_id = int(p["chat_id"]), int(p["message_id"])
        with self._cond:
            msg = self._find(chat_id, message_id)
            if msg is None:
                raise _BadRequest("message to edit not found")
            markup = _json_param(p.get("reply_markup"))
            _set_markup(msg, markup)
            self._cond.notify_all()
            return _public(msg)

    def _m_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        with self._cond:
            self.callback_answers.append(dict(p))
            self._cond.notify_all()
        return True

    def _m_sendDocument(self, p: dict[str, Any]) -> Any:
        chat_id = int(p["chat_id"])
        if len(str(p.get("caption", ""))) > 1024:
            raise _BadRequest("message caption is too long")
        with self._cond:
            doc = {"message_id": self._new_message_id(), "date": int(time.time()),
                   "chat": _chat(chat_id), "from": _user(BOT_ID, bot=True),
                   "document": {"file_id": f"f{len(self.documents)}",
                                "file_unique_id": f"u{len(self.documents)}"},
                   "caption": p.get("caption", ""), **self._thread_fields(chat_id, p)}
            self.documents.append({"chat_id": chat_id, "params": p})
            self._cond.notify_all()
            return doc

    def _m_sendPhoto(self, p: dict[str, Any]) -> Any:
        """A photo upload, refused as Telegram does: not an image, or outside its limits
        (width + height at most 10,000, sides at most 20:1, caption at most 1,024)."""
        chat_id = int(p["chat_id"])
        photo = p.get("photo")
        content = photo.get("content") if isinstance(photo, dict) else None
        if not isinstance(content, bytes) or content[:8] != b"\x89PNG\r\n\x1a\n":
            raise _BadRequest("IMAGE_PROCESS_FAILED")
        width, height = struct.unpack(">II", content[16:24])
        if width + height > 10000 or max(width, height) > 20 * max(1, min(width, height)):
            raise _BadRequest("PHOTO_INVALID_DIMENSIONS")
        if len(str(p.get("caption", ""))) > 1024:
            raise _BadRequest("message caption is too long")
        with self._cond:
            msg = {"message_id": self._new_message_id(), "date": int(time.time()),
                   "chat": _chat(chat_id), "from": _user(BOT_ID, bot=True),
                   "photo": [{"file_id": f"p{len(self.photos)}", "width": width,
                              "height": height, "file_unique_id": f"q{len(self.photos)}"}],
                   "caption": p.get("caption", ""), **self._thread_fields(chat_id, p)}
            reply = _json_param(p.get("reply_parameters"))
            self.photos.append({
                "chat_id": chat_id, "message_id": msg["message_id"],
                "caption": p.get("caption", ""), "filename": photo.get("filename"),
                "content": content, "width": width, "height": height,
                "at": time.monotonic(), "reply_to_message_id": int(reply["message_id"])
                if isinstance(reply, dict) and reply.get("message_id") else None})
            self._cond.notify_all()
            return msg

    def sent_photos(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The bot's photos, oldest first: chat_id, caption, filename, content (the PNG's
        bytes as uploaded), width, height, reply_to_message_id."""
        with self._cond:
            return [dict(ph) for ph in self.photos if chat_id is None or ph["chat_id"] == chat_id]

    def wait_for_photo(self, predicate: Callable[[dict[str, Any]], bool] = lambda _: True,
                       timeout: float = 15.0) -> dict[str, Any]:
        """The first photo the bot sent that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ph in self.photos:
                    if predicate(ph):
                        return dict(ph)
                left = deadline - time.monotonic()
                if left <= 0:
                    texts = "\n---\n".join(m["text"] for m in self.messages[-5:])
                    raise AssertionError(f"no matching photo in {timeout} s; the last "
                                         f"messages:\n{texts}")
                self._cond.wait(min(left, 0.2))

    # --- forum topics (the bot is an admin with "Manage topics") ---------------------------

    def _thread_fields(self, chat_id: int, p: dict[str, Any]) -> dict[str, Any]:
        """The topic fields of a message sent with `message_thread_id` (a 400 if it is gone)."""
        if not p.get("message_thread_id"):
            return {}
        thread_id = int(p["message_thread_id"])
        self._topic(chat_id, thread_id)
        return {"message_thread_id": thread_id, "is_topic_message": True}

    def _topic(self, chat_id: int, thread_id: int) -> dict[str, Any]:
        topic = self.topics.get((chat_id, thread_id))
        if topic is None or topic["state"] == "deleted":
            raise _BadRequest("message thread not found")
        return topic

    def _m_createForumTopic(self, p: dict[str, Any]) -> Any:
        chat_id, name = int(p["chat_id"]), str(p.get("name", ""))
        if chat_id > 0:
            raise _BadRequest("the chat is not a forum")
        if not 1 <= len(name) <= 128:
            raise _BadRequest("TOPIC_NAME_INVALID")
        with self._cond:
            thread_id = self._new_message_id()  # the id of the topic's first message
            topic = {"chat_id": chat_id, "message_thread_id": thread_id, "name": name,
                     "icon_color": int(p.get("icon_color") or 7322096), "state": "open",
                     "names": [name]}
            self.topics[(chat_id, thread_id)] = topic
            self._cond.notify_all()
            return {k: topic[k] for k in ("message_thread_id", "name", "icon_color")}

    def _m_editForumTopic(self, p: dict[str, Any]) -> Any:
        chat_id, thread_id = int(p["chat_id"]), int(p["message_thread_id"])
        with self._cond:
            topic = self._topic(chat_id, thread_id)
            name = p.get("name")
            if name is not None:
                if not 1 <= len(str(name)) <= 128:
                    raise _BadRequest("TOPIC_NAME_INVALID")
                if name == topic["name"]:
                    raise _BadRequest("TOPIC_NOT_MODIFIED")
                topic["name"] = str(name)
                topic["names"].append(str(name))
            self._cond.notify_all()
            return True

    def _m_closeForumTopic(self, p: dict[str, Any]) -> Any:
        return self._topic_state(p, "closed")

    def _m_reopenForumTopic(self, p: dict[str, Any]) -> Any:
        return self._topic_state(p, "open")

    def _m_deleteForumTopic(self, p: dict[str, Any]) -> Any:
        return self._topic_state(p, "deleted")

    def _topic_state(self, p: dict[str, Any], state: str) -> Any:
        with self._cond:
            topic = self._topic(int(p["chat_id"]), int(p["message_thread_id"]))
            if topic["state"] == state:
                raise _BadRequest("TOPIC_NOT_MODIFIED")
            topic["state"] = state
            self._cond.notify_all()
            return True

    def _render(self, raw: str, parse_mode: Any) -> str:
        if parse_mode == "HTML":
            try:
                text = parse_html(raw)
            except EntityParseError as exc:
                raise _BadRequest(f"can't parse entities: {exc}") from None
        else:
            text = raw
        if not text.strip():
            raise _BadRequest("message text is empty")
        if u16len(text) > LIMIT:
            raise _BadRequest("message is too long")
        return text

    def _find(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        for msg in self.messages:
            if msg["chat_id"] == chat_id and msg["message_id"] == message_id:
                return msg
        user_msg = self._user_messages.get(message_id)
        if user_msg is not None and user_msg["chat"]["id"] == chat_id:
            return user_msg
        return None

    def _new_message_id(self) -> int:
        n = self._next_message
        self._next_message += 1
        return n

    # --- assertions ----------------------------------------------------------------------

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The bot's messages (latest text), oldest first, optionally for one chat."""
        with self._cond:
            return [dict(m) for m in self.messages if chat_id is None or m["chat_id"] == chat_id]

    def sent_documents(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The bot's documents, oldest first: chat_id, filename, content (bytes), caption and
        reply_to_message_id (None when not a reply)."""
        out = []
        with self._cond:
            for d in self.documents:
                p = d["params"]
                doc = p.get("document")
                reply = _json_param(p.get("reply_parameters"))
                out.append({
                    "chat_id": d["chat_id"], "caption": p.get("caption", ""),
                    "filename": doc.get("filename") if isinstance(doc, dict) else None,
                    "content": doc.get("content") if isinstance(doc, dict) else doc,
                    "reply_to_message_id": int(reply["message_id"])
                    if isinstance(reply, dict) and reply.get("message_id") else None})
        return [d for d in out if chat_id is None or d["chat_id"] == chat_id]

    def forum_topics(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat's forum topics (name, state, names it had), oldest first."""
        with self._cond:
            return [dict(t) for (chat, _), t in sorted(self.topics.items()) if chat == chat_id]

    def wait_for_topic(self, predicate: Callable[[dict[str, Any]], bool],
                       timeout: float = 15.0) -> dict[str, Any]:
        """The first forum topic (in its current state) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for topic in self.topics.values():
                    if predicate(topic):
                        return dict(topic)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching forum topic in {timeout} s; topics: "
                                         f"{list(self.topics.values())}")
                self._cond.wait(min(left, 0.2))

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._cond:
            return [p for m, p in self.calls if m == method]

    def wait_for_message(self, predicate: Callable[[dict[str, Any]], bool],
                         timeout: float = 15.0) -> dict[str, Any]:
        """The first bot message (by its latest text) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.messages:
                    if predicate(msg):
                        return dict(msg)
                left = deadline - time.monotonic()
                if left <= 0:
                    texts = "\n---\n".join(m["text"] for m in self.messages[-8:])
                    raise AssertionError(f"no matching bot message in {timeout} s; "
                                         f"the last ones:\n{texts}")
                self._cond.wait(min(left, 0.2))


def _public(msg: dict[str, Any]) -> dict[str, Any]:
    """A stored message as the Bot API returns it (without the stand-in's bookkeeping)."""
    return {k: v for k, v in msg.items()
            if k not in ("chat_id", "raw", "edits", "at", "edited_at")}


def _topic_root(chat_id: int, topic: dict[str, Any]) -> dict[str, Any]:
    """The service message that opens a forum topic (its id is the topic's thread id)."""
    return {"message_id": topic["message_thread_id"], "date": int(time.time()),
            "chat": _chat(chat_id), "from": _user(BOT_ID, bot=True),
            "message_thread_id": topic["message_thread_id"], "is_topic_message": True,
            "forum_topic_created": {"name": topic["name"], "icon_color": topic["icon_color"]}}


def _set_markup(msg: dict[str, Any], markup: Any) -> None:
    """An edit replaces the buttons; an edit without any removes them, as Telegram does."""
    if markup:
        msg["reply_markup"] = markup
    else:
        msg.pop("reply_markup", None)


class _BadRequest(Exception):
    pass


def _error(status: int, retry_after: int | None) -> tuple[int, dict[str, Any]]:
    if status == 429:
        wait = retry_after if retry_after is not None else 1
        return 429, {"ok": False, "error_code": 429,
                     "description": f"Too Many Requests: retry after {wait}",
                     "parameters": {"retry_after": wait}}
    names = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
             504: "Gateway Timeout", 400: "Bad Request", 403: "Forbidden: bot was blocked"}
    return status, {"ok": False, "error_code": status,
                    "description": names.get(status, f"Error {status}")}


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": f"group {chat_id}", "is_forum": True}
    return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}


def _user(user_id: int, *, bot: bool = False) -> dict[str, Any]:
    if bot:
        return {"id": user_id, "is_bot": True, "first_name": "ccr stand-in",
                "username": BOT_USERNAME}
    return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Bot API stand-in on loopback.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST-standin-token")
    ns = parser.parse_args()
    with BotApiStandIn(ns.token, ns.port) as api:
        print(f"Bot API stand-in at {api.base_url} (token {api.token}); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
