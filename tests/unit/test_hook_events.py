"""What the hub makes of a hook's payload: the event kinds of newer Claude Code and the
optional fields they carry (bounded, never required)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ccr.api.payloads import TOOL_INPUT_CHARS, HookPayload
from ccr.core.models import EventKind
from ccr.services.sessions import QUIET, classify


@pytest.mark.parametrize(("name", "kind"), [
    ("Stop", EventKind.STOP),
    ("SubagentStop", EventKind.SUBAGENT_STOP),
    ("UserPromptSubmit", EventKind.PROMPT),
    ("StopFailure", EventKind.STOP_FAILURE),
    ("SessionStart", EventKind.SESSION_START),
    ("SessionEnd", EventKind.SESSION_END),
    ("PermissionRequest", EventKind.PERMISSION),
])
def test_each_hook_event_has_its_kind(name: str, kind: EventKind) -> None:
    assert classify(name, None, None) is kind


def test_notifications_are_still_sorted_by_type_and_text() -> None:
    assert classify("Notification", "permission_prompt", "x") is EventKind.WAITING
    assert classify("Notification", None, "Claude needs your permission to use Bash") \
        is EventKind.WAITING
    assert classify("Notification", None, "Compacting") is EventKind.NOTIFICATION
    assert classify("SomethingNew", None, None) is EventKind.NOTIFICATION


def test_a_failed_turn_notifies_while_starts_ends_and_dialogs_stay_quiet() -> None:
    assert EventKind.STOP_FAILURE not in QUIET
    assert {EventKind.SESSION_START, EventKind.SESSION_END, EventKind.PERMISSION,
            EventKind.PROMPT} <= QUIET


def payload(**over: Any) -> dict[str, Any]:
    return {"event_id": "evt-12345678", "server_id": "kr4", "hook_event_name": "StopFailure",
            **over}


def test_new_fields_reach_the_event() -> None:
    event = HookPayload.model_validate(payload(
        prompt_id="6c1b-prompt", error="authentication_failed", reason="logout",
        source="startup", tool_name="Bash", tool_input="touch created.txt",
        last_reply="Invalid API key · Fix external API key")).to_event(1.0)
    assert event.kind is EventKind.STOP_FAILURE
    assert (event.prompt_id, event.error, event.reason, event.source) == (
        "6c1b-prompt", "authentication_failed", "logout", "startup")
    assert (event.tool_name, event.tool_input) == ("Bash", "touch created.txt")
    assert event.last_reply == "Invalid API key · Fix external API key"


def test_older_hooks_without_the_new_fields_still_validate() -> None:
    event = HookPayload.model_validate(payload(hook_event_name="Stop")).to_event(1.0)
    assert event.prompt_id is event.error is event.reason is event.tool_input is None


def test_lengths_are_bounded() -> None:
    for field in ("prompt_id", "error", "reason", "source", "tool_name"):
        with pytest.raises(ValidationError):
            HookPayload.model_validate(payload(**{field: "x" * 1000}))
    # A long tool input is cut, not refused: the event itself must not be lost.
    event = HookPayload.model_validate(payload(tool_input="y" * 50_000)).to_event(1.0)
    assert event.tool_input == "y" * TOOL_INPUT_CHARS
