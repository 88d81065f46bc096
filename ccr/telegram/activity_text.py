"""Claude's steps on a command's live message: what it does now, the last few steps, and
once the command ended, the one-line summary. HTML, redacted, clipped."""

from __future__ import annotations

from typing import Any

from ccr.telegram.render import clip, esc

LINE_CHARS = 90
BLOCK_CHARS = 900


def lines(p: dict[str, Any], *, running: bool) -> list[str]:
    """The activity part of the message (already scrubbed payload `p`); [] when none."""
    act = p.get("activity")
    if not isinstance(act, dict):
        return []
    summary = str(act.get("summary") or "")
    if not running:
        return [f"🧰 <i>{esc(clip(summary, 200))}</i>"] if summary else []
    out: list[str] = []
    for step in act.get("recent") or []:
        if not isinstance(step, dict):
            continue
        line = str(step.get("line") or "")
        mark = "" if step.get("failed") else "✓ "
        out.append(f"{mark}{esc(clip(line, LINE_CHARS))}")
    now = str(act.get("now") or "")
    if now:
        out.append(f"▶ <b>{esc(clip(now, LINE_CHARS))}</b>")
    if not out:
        return []
    while len(out) > 1 and sum(len(x) + 1 for x in out) > BLOCK_CHARS:
        out.pop(0)
    steps = int(act.get("steps") or 0)
    head = f"<i>{steps} step{'s' if steps != 1 else ''} so far</i>" if steps else ""
    return ([head] if head else []) + out
