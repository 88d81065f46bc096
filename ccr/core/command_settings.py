"""[commands] and [aliases] of ccr.toml: how a command's life is followed and shown."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

ALIAS_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class CommandSettings(BaseModel):
    """Tracking of commands from the moment they are accepted until Claude answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(1800.0, gt=0, le=7 * 86400)
    """A typed command with no Stop from its session for this long ends TIMEOUT."""
    progress_after_s: float = Field(30.0, gt=0, le=3600)
    """A command still running after this long gets one "still working" edit."""
    progress_every_s: float = Field(300.0, ge=60, le=86400)
    """After that, its elapsed time is refreshed this often (edits, never new messages)."""
    confirm_after_s: float = Field(5.0, gt=0, le=600)
    """No UserPromptSubmit from Claude this long after typing: read the pane and say what is
    there instead (for example a menu that took the keys)."""
    start_timeout_s: float = Field(60.0, gt=0, le=3600)
    """/new and /restart: Claude's first hook must arrive this long after its window opened,
    else the person is told so, with what the window shows."""
    history_days: float = Field(30.0, gt=0, le=3650)
    """Commands (with Claude's replies) are kept this long, then purged."""
    purge_interval_s: float = Field(3600.0, ge=10, le=86400)
    """How often the purge job runs."""
    rich_messages: bool = True
    """Live edited messages with buttons and formatted replies; false: plain text messages
    (a rollback switch)."""
    preview_chars: int = Field(600, ge=50, le=3500)
    """Characters of Claude's reply shown on the command's message."""
    file_after_chars: int = Field(12_000, ge=3500, le=1_000_000)
    """Show full reply sends a longer reply as a .md file instead of messages."""


def check_aliases(v: dict[str, str]) -> dict[str, str]:
    """Alias names are short words; their texts are non-empty and not huge."""
    out: dict[str, str] = {}
    for name, text in v.items():
        if not ALIAS_NAME.match(name.lower()):
            raise ValueError(f"alias name '{name}' must be a short word (letters, digits, - _)")
        if not text.strip() or len(text) > 4000:
            raise ValueError(f"alias '{name}' needs a text of 1 to 4000 characters")
        out[name.lower()] = text
    return out



