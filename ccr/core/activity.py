"""Claude's steps while a command runs, in plain words: "Bash: pytest -q", "Edit: cart.py".

Pure formatting shared by every face (the live Telegram message, the API, the CLI): the
hook sends a tool's name and a short form of its input (ccr.hook.tool_summary); this turns
that into one short line, and a command's tool counts into a one-line summary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

SUBJECT_CHARS = 60
FILE_TOOLS = frozenset({"Edit", "Write", "Read", "MultiEdit", "NotebookEdit"})
SUBJECT_KEYS = ("description", "pattern", "url", "query", "path", "prompt", "skill")
"""Which field of another tool's input says what it is about (Task/Agent, Grep, Glob,
WebFetch, WebSearch...); the first one present wins."""
SUBAGENT = "Subagent"
"""The pseudo tool a SubagentStart is kept as: shown, not counted as a step."""


@dataclass(frozen=True)
class Step:
    """One tool call (or subagent) of a command, as kept while the command runs."""

    seq: int
    tool: str
    subject: str
    status: str  # "running" | "ok" | "failed"
    error: str | None
    started_at: float
    ended_at: float | None


@dataclass(frozen=True)
class Summary:
    """All of a command's steps, counted; kept after the steps themselves are pruned."""

    steps: int
    failed: int
    counts: Mapping[str, int]


def _clip(text: str, limit: int = SUBJECT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _basename(path: str) -> str:
    path = path.rstrip("/")
    return path.rsplit("/", 1)[-1] or path


def subject(tool: str, tool_input: str | None) -> str:
    """A short subject for a tool call: a file tool's file name, Bash's first command line,
    another tool's description/pattern/url..., else its input clipped ('' when none)."""
    text = (tool_input or "").strip()
    if not text:
        return ""
    if tool in FILE_TOOLS:
        return _clip(_basename(text))
    if tool == "Bash":
        first, _, rest = text.partition("\n")
        return _clip(first.strip() + (" …" if rest.strip() else ""))
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in SUBJECT_KEYS:
                value = data.get(key)
                if isinstance(value, str) and value.strip():
                    value = value.strip().split("\n", 1)[0]
                    return _clip(_basename(value) if key == "path" else value)
    return _clip(" ".join(text.split()))


def tool_label(tool: str) -> str:
    """An MCP tool's name without its `mcp__server__` prefix (mcp__db__query -> db.query)."""
    if tool.startswith("mcp__"):
        parts = tool.split("__")
        if len(parts) >= 3:
            return f"{parts[1]}.{'__'.join(parts[2:])}"
    return tool


def step_line(step: Step) -> str:
    """'Bash: pytest -q', '✗ Edit: cart.py (String not found)', '🤖 Subagent: Explore'."""
    if step.tool == SUBAGENT:
        line = f"🤖 subagent {step.subject or 'started'}"
        return line + (" (done)" if step.status != "running" else "")
    line = tool_label(step.tool) + (f": {step.subject}" if step.subject else "")
    if step.status == "failed":
        line = "✗ " + line + (f" ({_clip(step.error, 80)})" if step.error else "")
    return line


def summary_line(summary: Summary | None) -> str:
    """'12 steps: 5 Bash, 4 Edit, 3 Read' (most used first; '' when there were none)."""
    if summary is None or summary.steps <= 0:
        return ""
    ranked = sorted(summary.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{n} {tool_label(t)}" for t, n in ranked[:6]]
    rest = sum(n for _, n in ranked[6:])
    if rest:
        shown.append(f"{rest} other")
    word = "step" if summary.steps == 1 else "steps"
    line = f"{summary.steps} {word}: {', '.join(shown)}"
    if summary.failed:
        line += f" · {summary.failed} failed"
    return line


def view(steps: list[Step], summary: Summary | None, *, recent: int = 5) -> dict[str, object]:
    """What a face shows: the step running now, the last few before it, the summary line."""
    running = [s for s in steps if s.status == "running"]
    now = running[-1] if running else None
    done = [s for s in steps if s is not now][-recent:]
    return {
        "now": step_line(now) if now is not None else "",
        "recent": [{"line": step_line(s), "failed": s.status == "failed"} for s in done],
        "summary": summary_line(summary),
        "steps": summary.steps if summary is not None else 0,
    }
