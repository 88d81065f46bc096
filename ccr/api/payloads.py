"""Validated shapes of what the HTTP face accepts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ccr.core.models import EventKind, HookEvent
from ccr.services.sessions import classify

_SHORT = 512
_LONG = 64_000
_WORD = 64
"""An enum-like value from Claude Code (an error kind, a reason, a source)."""
TOOL_INPUT_CHARS = 2000


def _clip(limit: int) -> BeforeValidator:
    """Cut a descriptive text to `limit` characters instead of refusing the whole event."""
    return BeforeValidator(lambda v: v[:limit] if isinstance(v, str) else v)


ToolInput = Annotated[str | None, _clip(TOOL_INPUT_CHARS), Field(None, max_length=TOOL_INPUT_CHARS)]


class TmuxInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pane_id: str | None = Field(None, pattern=r"^%\d{1,9}$")
    socket: str | None = Field(None, max_length=4096)
    session_name: str | None = Field(None, max_length=_SHORT)


class HookPayload(BaseModel):
    """What `ccr hook` posts. Unknown fields are ignored; missing optional ones are fine."""

    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{8,100}$")
    server_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    hook_event_name: str = Field(min_length=1, max_length=64)
    session_id: str | None = Field(None, max_length=_SHORT)
    cwd: str | None = Field(None, max_length=4096)
    message: str | None = Field(None, max_length=_LONG)
    notification_type: str | None = Field(None, max_length=_SHORT)
    last_prompt: str | None = Field(None, max_length=_LONG)
    last_reply: str | None = Field(None, max_length=_LONG)
    created_at: float | None = None
    tmux: TmuxInfo = Field(default_factory=TmuxInfo)
    prompt_id: str | None = Field(None, max_length=200)
    error: str | None = Field(None, max_length=_WORD)
    reason: str | None = Field(None, max_length=_WORD)
    source: str | None = Field(None, max_length=_WORD)
    tool_name: str | None = Field(None, max_length=200)
    tool_input: ToolInput = None
    tool_use_id: str | None = Field(None, max_length=200)
    tool_failed: bool = False
    tool_error: Annotated[str | None, _clip(_SHORT)] = None
    agent_type: str | None = Field(None, max_length=200)
    agent_id: str | None = Field(None, max_length=200)

    def to_event(self, now: float) -> HookEvent:
        kind: EventKind = classify(self.hook_event_name, self.notification_type, self.message)
        if kind is EventKind.TOOL_DONE and self.tool_failed:  # interrupted, or is_error
            kind = EventKind.TOOL_FAILED
        return HookEvent(
            event_id=self.event_id, server_id=self.server_id, kind=kind,
            hook_event_name=self.hook_event_name, claude_session_id=self.session_id,
            cwd=self.cwd, pane_id=self.tmux.pane_id, tmux_socket=self.tmux.socket,
            tmux_session=self.tmux.session_name, message=self.message,
            notification_type=self.notification_type, last_prompt=self.last_prompt,
            last_reply=self.last_reply, sent_at=self.created_at or now,
            prompt_id=self.prompt_id or None, error=self.error or None,
            reason=self.reason or None, source=self.source or None,
            tool_name=self.tool_name or None, tool_input=self.tool_input or None,
            tool_use_id=self.tool_use_id or None, agent_type=self.agent_type or None,
            agent_id=self.agent_id or None,
            tool_error=(self.tool_error or "failed") if self.tool_failed else None,
        )


class CommandRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session: str = Field(min_length=1, max_length=64, description="handle (laptop:1) or token")
    text: str = Field(min_length=1, max_length=100_000)
