"""What an outgoing message is, in a few plain words: shared by delivery, dead letters and faces.

Logs, dead-letter views and admin alerts name a message by its kind and session, never by its
text.
"""

from __future__ import annotations

from typing import Any

TITLES = {"stop": "Claude finished", "subagent_stop": "a subagent finished",
          "waiting": "Claude is waiting", "notification": "Claude says",
          "stop_failure": "Claude stopped on an error"}


def item_summary(kind: str, payload: dict[str, Any]) -> str:
    """What an outbox message is, in a few plain words (no message text beyond a title)."""
    handle = str(payload.get("handle") or "?")
    if kind == "notification":
        title = TITLES.get(str(payload.get("event", "")), "Claude says")
        return f"'{title}' notification for {handle}"
    if kind == "command_result":
        return f"command result for {handle}"
    if kind == "command_error":
        return "command error reply"
    if kind == "dlq_alert":
        return f"admin alert about dead letter {payload.get('entry_id', '?')}"
    if kind == "alert":
        return f"admin alert {payload.get('id', '?')} ({payload.get('rule', '?')})"
    return f"{kind} message"
