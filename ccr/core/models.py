"""Plain domain records shared by services and faces."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class EventKind(StrEnum):
    """What a Claude Code hook reported."""

    STOP = "stop"
    SUBAGENT_STOP = "subagent_stop"
    WAITING = "waiting"  # Notification: permission or idle prompt
    NOTIFICATION = "notification"  # other Notification types
    PROMPT = "prompt"  # UserPromptSubmit: the text Claude received
    STOP_FAILURE = "stop_failure"  # StopFailure: the turn ended on an API error
    SESSION_START = "session_start"  # SessionStart: startup, resume, /clear, compaction
    SESSION_END = "session_end"  # SessionEnd: Claude Code exited (or /clear)
    PERMISSION = "permission"  # PermissionRequest: a permission dialog is shown
    TOOL_START = "tool_start"  # PreToolUse: Claude is about to run a tool
    TOOL_DONE = "tool_done"  # PostToolUse: the tool ran
    TOOL_FAILED = "tool_failed"  # PostToolUseFailure: the tool failed
    SUBAGENT_START = "subagent_start"  # SubagentStart: a Task/Agent subagent began


class SessionHealth(StrEnum):
    """Whether a session's pane can be typed into, as the last health check found it."""

    OK = "ok"
    LOST = "lost"  # the pane is gone
    UNREACHABLE = "unreachable"  # its server does not answer


class CommandState(StrEnum):
    """A command's lifecycle: PENDING -> EXECUTING -> COMPLETED | FAILED | TIMEOUT | CANCELLED.

    DISPATCHING is the instant of typing (the pane is held): a hub killed there cannot know
    whether the keys arrived, so such a command ends UNCERTAIN instead of being typed twice.
    """

    PENDING = "pending"
    DISPATCHING = "dispatching"
    EXECUTING = "executing"  # typed into the pane; Claude works until its next Stop
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES

    @property
    def phase(self) -> str:
        """The lifecycle stage a person sees (DISPATCHING is part of EXECUTING)."""
        return "executing" if self is CommandState.DISPATCHING else self.value


FINAL_STATES = frozenset({CommandState.COMPLETED, CommandState.FAILED, CommandState.TIMEOUT,
                          CommandState.CANCELLED, CommandState.UNCERTAIN})


@dataclass(frozen=True)
class Session:
    """One Claude Code instance in one tmux pane on one server."""

    id: int
    server_id: str
    number: int
    token: str
    pane_id: str | None
    tmux_socket: str | None
    tmux_session: str | None
    claude_session_id: str | None
    project: str | None
    last_event: str | None
    last_prompt: str | None
    last_reply: str | None
    created_at: float
    updated_at: float
    expires_at: float
    health: SessionHealth = SessionHealth.OK
    lost_at: float | None = None
    ended_at: float | None = None
    """When Claude Code said it ended (SessionEnd): not live since; its pane's next event
    brings it back."""
    ended_sent_at: float | None = None
    """When that SessionEnd was sent, on the hook's clock: an event its Claude sent earlier
    arrived late and does not bring the session back."""

    def sent_before_end(self, event_sent_at: float, claude_session_id: str | None) -> bool:
        """Was this event sent by the Claude that ended here, before it said goodbye?"""
        return (self.ended_sent_at is not None and claude_session_id is not None
                and claude_session_id == self.claude_session_id
                and event_sent_at < self.ended_sent_at)

    @property
    def handle(self) -> str:
        return f"{self.server_id}:{self.number}"

    @property
    def project_name(self) -> str:
        if not self.project:
            return "?"
        return self.project.rstrip("/").rsplit("/", 1)[-1] or self.project


@dataclass(frozen=True)
class Command:
    """Text a person asked to type into a session."""

    id: str
    session_id: int
    handle: str
    text: str
    source: str
    chat_id: int | None
    state: CommandState
    error_code: str | None
    error_text: str | None
    created_at: float
    finished_at: float | None
    trace_id: str | None = None
    """The command's trace (started at submit); quoted in its errors."""
    typed_at: float | None = None
    received_at: float | None = None
    """When Claude's UserPromptSubmit hook reported this text (the second tick)."""
    reply: str | None = None
    """Claude's answer: the reply of the Stop that completed it."""
    progress_at: float | None = None
    card_outbox_id: int | None = None
    """The outbox row of its live Telegram message (None: not from Telegram)."""
    alias: str | None = None
    retry_of: str | None = None
    prompt_id: str | None = None
    """Claude Code's id of the turn that received it (from its UserPromptSubmit): the Stop
    with the same id answers exactly this command."""

    def is_prompt(self, prompt: str | None) -> bool:
        """Is `prompt` (what Claude's hook reported) this command's text, spacing aside?"""
        return bool(prompt) and " ".join(self.text.split()) == " ".join((prompt or "").split())

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else max(0.0, self.finished_at - self.created_at)


@dataclass(frozen=True)
class HookEvent:
    """A validated event from a server's hook, as the services see it."""

    event_id: str
    server_id: str
    kind: EventKind
    hook_event_name: str
    claude_session_id: str | None
    cwd: str | None
    pane_id: str | None
    tmux_socket: str | None
    tmux_session: str | None
    message: str | None
    notification_type: str | None
    last_prompt: str | None
    last_reply: str | None
    sent_at: float
    extra: dict[str, str] = field(default_factory=dict)
    prompt_id: str | None = None
    """Claude Code's id of the turn (UserPromptSubmit and the Stop that ends it share it)."""
    error: str | None = None
    """StopFailure: the kind of API error (`authentication_failed`, `rate_limit`...)."""
    reason: str | None = None
    """SessionEnd: why the session ended (`clear`, `logout`, `prompt_input_exit`...)."""
    source: str | None = None
    """SessionStart: `startup`, `resume`, `clear` or `compact`."""
    tool_name: str | None = None
    tool_input: str | None = None
    """PermissionRequest (and tool events): the tool and a short form of its input."""
    tool_use_id: str | None = None
    """Tool events: Claude Code's id of one tool call (its Pre and Post events share it)."""
    tool_error: str | None = None
    """PostToolUseFailure: the first line of the tool's error."""
    agent_type: str | None = None
    agent_id: str | None = None
    """SubagentStart/SubagentStop: which subagent."""
