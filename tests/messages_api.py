"""An Anthropic Messages API stand-in: a real HTTP server the real Claude Code talks to offline.

`ANTHROPIC_BASE_URL` points the client at it. It answers `POST /v1/messages` with server-sent
events as the real API streams them (message_start, content_block_start/delta/stop,
message_delta with the stop reason, message_stop), or with one JSON message when the request
does not ask to stream, and records every request so a test can check what the client sent.

What it answers is scripted by the prompt's text (the last user message's text blocks that do
not start with `<`, which are the client's reminders):

    with MessagesApiStandIn() as api:
        api.base_url                                   # "http://127.0.0.1:PORT"
        api.on("make a file", bash("touch made.txt"))  # the real permission dialog shows
        api.on("pick", ask("Which colour?", ["Red", "Blue"]))  # the real question menu
        api.on("logged out", error(401))               # an API error for this prompt
        api.prompts()                                  # every prompt that arrived, in order

A prompt no rule matches gets `You said: <prompt>`. After a `tool_use`, the client's next
request carries the `tool_result`; the answer then says what the tool printed, or that it
was refused. A request without tools (the client asking for a session title) gets a short
title. Also runnable for manual trials: `python -m tests.messages_api --port 8082`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ERRORS = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
    429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}
"""HTTP status -> the `error.type` the real API sends with it."""
ERROR_TEXT = {
    401: "invalid x-api-key", 429: "Number of request tokens has exceeded your rate limit.",
    500: "Internal server error", 529: "Overloaded",
}


@dataclass(frozen=True)
class Reply:
    """What to answer a prompt with. kind: text, tool (a tool_use), error."""

    kind: str
    text: str = ""
    tool: str = ""
    tool_input: dict[str, Any] = field(default_factory=dict)
    status: int = 0
    delay: float = 0.0
    gate: threading.Event | None = field(default=None, compare=False)
    """When set, the answer waits (up to a minute) until the event is set."""


def text(reply: str, *, delay: float = 0.0, gate: threading.Event | None = None) -> Reply:
    """Answer with this text (after `delay` seconds of 'thinking', or once `gate` is set)."""
    return Reply("text", text=reply, delay=delay, gate=gate)


def bash(command: str, description: str = "Run the command") -> Reply:
    """Ask to run a Bash command: the client shows its permission dialog."""
    return Reply("tool", text="I will run a command.", tool="Bash",
                 tool_input={"command": command, "description": description})


def ask(question: str, options: list[str], header: str = "Choice") -> Reply:
    """Ask the person a multiple-choice question with the client's AskUserQuestion tool
    (input shape as its schema in the request's `tools` list has it)."""
    return Reply("tool", tool="AskUserQuestion", tool_input={"questions": [{
        "question": question, "header": header, "multiSelect": False,
        "options": [{"label": o, "description": f"Pick {o.lower()}"} for o in options]}]})


def error(status: int, message: str | None = None) -> Reply:
    """Fail the request with this HTTP status and the API's error JSON."""
    return Reply("error", text=message or ERROR_TEXT.get(status, "error"), status=status)


@dataclass
class Request:
    """One request as the client sent it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def api_key(self) -> str:
        return self.headers.get("x-api-key", "")

    @property
    def has_tools(self) -> bool:
        return bool(self.body.get("tools"))

    def last_user(self) -> dict[str, Any] | None:
        for message in reversed(self.body.get("messages") or []):
            if message.get("role") == "user":
                return dict(message)
        return None

    def blocks(self) -> list[dict[str, Any]]:
        message = self.last_user() or {}
        content = message.get("content")
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        return [b for b in content or [] if isinstance(b, dict)]

    @property
    def prompt(self) -> str | None:
        """The person's words in the last user message, or None when it holds none (only a
        tool result, or reminders). After a refused tool the client sends the refusal, an
        "[Request interrupted ...]" note and the next prompt in one message."""
        words = [b.get("text", "") for b in self.blocks() if b.get("type") == "text"]
        words = [w for w in words if not w.lstrip().startswith(("<", "[Request interrupted"))]
        return "\n".join(words) if words else None

    def tool_result(self) -> dict[str, Any] | None:
        return next((b for b in self.blocks() if b.get("type") == "tool_result"), None)

    def tool_schema(self, name: str) -> dict[str, Any] | None:
        for tool in self.body.get("tools") or []:
            if tool.get("name") == name:
                return dict(tool.get("input_schema") or {})
        return None


def schema_problems(schema: dict[str, Any], value: Any, where: str = "input") -> list[str]:
    """Where `value` breaks the JSON schema's object shape (required and unknown keys, item
    shapes): enough to keep a scripted tool_use in step with the client's real tool."""
    if schema.get("type") == "object" and isinstance(value, dict):
        props = schema.get("properties") or {}
        out = [f"{where}: missing {k!r}" for k in schema.get("required") or [] if k not in value]
        if schema.get("additionalProperties") is False:
            out += [f"{where}: unknown {k!r}" for k in value if k not in props]
        for key, sub in props.items():
            if key in value:
                out += schema_problems(sub, value[key], f"{where}.{key}")
        return out
    if schema.get("type") == "array" and isinstance(value, list):
        return [p for n, item in enumerate(value)
                for p in schema_problems(schema.get("items") or {}, item, f"{where}[{n}]")]
    return []


def result_text(block: dict[str, Any]) -> str:
    """A tool_result's content as plain text."""
    content = block.get("content")
    if isinstance(content, list):
        return "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return str(content or "")


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
        self._json(404, _error_body(404, "not found"))

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, _error_body(400, "invalid JSON"))
            return
        path = urlsplit(self.path).path
        api = self.server.api
        request = Request(path, {k.lower(): v for k, v in self.headers.items()}, body,
                          time.time())
        if path == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": 42})
            return
        if path != "/v1/messages":
            self._json(404, _error_body(404, f"no route {path}"))
            return
        reply = api.record_and_answer(request)
        if reply.gate is not None:
            reply.gate.wait(60)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.kind == "error":
            self._json(reply.status, _error_body(reply.status, reply.text),
                       {"retry-after": "1"} if reply.status == 429 else None)
            return
        message_id = "msg_" + uuid.uuid4().hex[:24]
        blocks = _blocks(reply)
        stop = "tool_use" if reply.kind == "tool" else "end_turn"
        model = str(body.get("model") or "claude-standin")
        if body.get("stream"):
            self._stream(message_id, model, blocks, stop)
        else:
            self._json(200, {"id": message_id, "type": "message", "role": "assistant",
                             "model": model, "content": blocks, "stop_reason": stop,
                             "stop_sequence": None, "usage": _usage()})

    def _json(self, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    def _stream(self, message_id: str, model: str, blocks: list[dict[str, Any]],
                stop: str) -> None:
        events: list[tuple[str, dict[str, Any]]] = [("message_start", {"message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {**_usage(), "output_tokens": 1}}})]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                events.append(("content_block_start", {"index": index,
                               "content_block": {"type": "text", "text": ""}}))
                events.append(("content_block_delta", {"index": index, "delta": {
                    "type": "text_delta", "text": block["text"]}}))
            else:
                events.append(("content_block_start", {"index": index, "content_block": {
                    **block, "input": {}}}))
                events.append(("content_block_delta", {"index": index, "delta": {
                    "type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
            events.append(("content_block_stop", {"index": index}))
        events.append(("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                         "usage": {"output_tokens": 12}}))
        events.append(("message_stop", {}))
        with contextlib.suppress(OSError):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
            self.end_headers()
            for name, data in events:
                self.wfile.write(f"event: {name}\ndata: "
                                 f"{json.dumps({'type': name, **data})}\n\n".encode())
                self.wfile.flush()
        self.close_connection = True


def _usage() -> dict[str, int]:
    return {"input_tokens": 10, "output_tokens": 12, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0}


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ERRORS.get(status, "api_error"),
                                       "message": message}}


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    if reply.kind == "tool":
        blocks.append({"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24],
                       "name": reply.tool, "input": reply.tool_input})
    return blocks


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: MessagesApiStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a cancelled turn, a killed client) is normal
        here, not worth a traceback on stderr."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


Rule = tuple[Callable[[str], bool], Reply]


class MessagesApiStandIn:
    """The stand-in's state: the scripted replies and every request received."""

    def __init__(self, port: int = 0) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._rules: list[Rule] = []
        self.requests: list[Request] = []
        self.problems: list[str] = []
        """Scripted tool uses the client's request did not offer or whose input does not
        fit the tool's schema there (a test asserts this stays empty)."""
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.api = self
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MessagesApiStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MessagesApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the script ------------------------------------------------------------------------

    def on(self, match: str | re.Pattern[str] | Callable[[str], bool], reply: Reply) -> None:
        """Answer prompts that contain `match` (a substring, a regex searched, or a
        predicate) with `reply`. Later rules win over earlier ones."""
        if isinstance(match, str):
            def test(prompt: str, needle: str = match) -> bool:
                return needle in prompt
        elif isinstance(match, re.Pattern):
            def test(prompt: str, pattern: re.Pattern[str] = match) -> bool:
                return pattern.search(prompt) is not None
        else:
            test = match
        with self._cond:
            self._rules.insert(0, (test, reply))

    def answer(self, request: Request) -> Reply:
        """The reply for one request (called with the lock held)."""
        if not request.has_tools:
            return text('{"title": "Stand-in session"}')  # the side request for a title
        prompt = request.prompt
        result = request.tool_result()
        if prompt is None and result is not None:
            said = result_text(result)
            if result.get("is_error"):
                return text(f"The tool was refused: {said}")
            return text(f"The tool said: {said}")
        if prompt is None:
            return text("Nothing to say.")
        for test, reply in self._rules:
            if test(prompt):
                if reply.kind == "tool":
                    schema = request.tool_schema(reply.tool)
                    if schema is None:
                        self.problems.append(f"the client offers no tool {reply.tool!r}")
                    else:
                        self.problems += [f"{reply.tool} {p}" for p in
                                          schema_problems(schema, reply.tool_input)]
                return reply
        return text("You said: " + prompt)

    def record_and_answer(self, request: Request) -> Reply:
        with self._cond:
            self.requests.append(request)
            reply = self.answer(request)
            self._cond.notify_all()
            return reply

    # --- assertions ------------------------------------------------------------------------

    def main_requests(self, api_key: str | None = None) -> list[Request]:
        """The conversation's requests (those that offer tools), oldest first; only those
        sent with `api_key` when given (each test client has its own key)."""
        with self._cond:
            return [r for r in self.requests
                    if r.has_tools and (api_key is None or r.api_key == api_key)]

    def prompts(self, api_key: str | None = None) -> list[str]:
        """Each prompt the person submitted, once, in order (a retried request counts once:
        it carries the same messages)."""
        out: list[str] = []
        seen: set[str] = set()
        for request in self.main_requests(api_key):
            prompt = request.prompt
            key = request.api_key + json.dumps(request.body.get("messages"), sort_keys=True)
            if prompt is not None and key not in seen:
                seen.add(key)
                out.append(prompt)
        return out

    def wait_prompts(self, count: int, api_key: str | None = None,
                     timeout: float = 30.0) -> list[str]:
        """The prompts once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := self.prompts(api_key)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} prompts arrived in "
                                         f"{timeout} s: {found}")
                self._cond.wait(min(left, 0.2))
            return found

    def wait_for(self, predicate: Callable[[Request], bool], timeout: float = 30.0,
                 what: str = "a matching request") -> Request:
        """The first request (oldest first) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for request in self.requests:
                    if predicate(request):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [r.prompt for r in self.requests]
                    raise AssertionError(f"no {what} in {timeout} s; prompts seen: {seen}")
                self._cond.wait(min(left, 0.2))


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Messages API stand-in on loopback.")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--dump", metavar="DIR", help="write each request's body to DIR/N.json")
    ns = parser.parse_args()
    with MessagesApiStandIn(ns.port) as api:
        api.on("run a command", bash("touch created.txt && echo made it"))
        api.on("ask me", ask("Which colour?", ["Red", "Blue"]))
        api.on("fail with", error(401))
        api.on("rate limit me", error(429))
        api.on("break the server", error(500))
        api.on("overload", error(529))
        print(f"Messages API stand-in at {api.base_url}; Ctrl-C stops it")
        done = 0
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(0.2)
                with api._cond:
                    fresh = api.requests[done:]
                    done = len(api.requests)
                for n, r in enumerate(fresh, done - len(fresh)):
                    print(n, r.path, "tools" if r.has_tools else "no tools", repr(r.prompt),
                          flush=True)
                    if ns.dump:
                        Path(ns.dump, f"{n}.json").write_text(json.dumps(r.body, indent=1))


if __name__ == "__main__":
    main()
