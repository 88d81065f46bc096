"""Writes hub events as log lines for `ccr serve` (metadata only, never message text).

Every log line passes through `redact`: `describe` is the one door for hub events (the
`ccr serve` output and the console's activity log), and `redact_python_logging` masks the
records of Python's `logging` (ours, python-telegram-bot's, httpx's) as they are created.
"""

from __future__ import annotations

import logging
import time

from rich.console import Console
from rich.markup import escape

from ccr.core.events import (
    CommandChanged,
    Event,
    EventBus,
    HubLog,
    NotificationDelivered,
    NotificationFailed,
    ServerStateChanged,
    SessionHealthChanged,
    SessionUpdated,
)
from ccr.core.redact import redact


def describe(event: Event) -> tuple[str, str] | None:
    """(level, line) for an event, redacted, or None for events not worth a line."""
    line = _describe(event)
    return None if line is None else (line[0], redact(line[1]))


def _describe(event: Event) -> tuple[str, str] | None:
    match event:
        case HubLog(level=level, text=text):
            return level, text
        case SessionUpdated(session=s, created=created, kind=kind):
            return "info", f"{s.handle} {kind}{' (new session)' if created else ''}"
        case CommandChanged(command=c):
            detail = f" ({c.error_code})" if c.error_code else ""
            if c.received_at is not None and not c.state.final:
                detail += ", received by Claude"
            return "info", f"command {c.id} for {c.handle}: {c.state.value}{detail}"
        case NotificationDelivered(outbox_id=oid, chat_id=chat):
            return "info", f"message {oid} delivered to chat {chat}"
        case NotificationFailed(outbox_id=oid, chat_id=chat, error=error):
            return "error", f"message {oid} to chat {chat} failed: {error}"
        case ServerStateChanged(server_id=sid, state=state, detail=detail):
            return ("info" if state == "up" else "warning"), f"server {sid} is {state}: {detail}"
        case SessionHealthChanged(session=s, health=health, reason=reason):
            level = "info" if health == "ok" else "warning"
            return level, f"{s.handle} {'is back' if health == 'ok' else health}: {reason}"
    return None


_factory = logging.getLogRecordFactory()


def _redacted_record(*args: object, **kwargs: object) -> logging.LogRecord:
    """A log record whose message (arguments merged in) and traceback are redacted."""
    record = _factory(*args, **kwargs)
    try:
        record.msg, record.args = redact(record.getMessage()), None
    except Exception:  # a record whose arguments do not format: mask it whole
        record.msg, record.args = "[redacted]", None
    if record.exc_info:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    return record


def redact_python_logging() -> None:
    """Mask credentials in every `logging` record this process creates (idempotent)."""
    logging.setLogRecordFactory(_redacted_record)


async def print_events(bus: EventBus, console: Console) -> None:
    colors = {"error": "red", "warning": "yellow", "info": "default"}
    async with bus.subscribe() as queue:
        while True:
            line = describe(await queue.get())
            if line is None:
                continue
            level, text = line
            stamp = time.strftime("%H:%M:%S")
            console.print(f"[dim]{stamp}[/] [{colors.get(level, 'default')}]{level:7}[/] "
                          f"{escape(text)}",
                          markup=True, highlight=False, soft_wrap=True)
