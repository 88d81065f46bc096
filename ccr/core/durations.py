"""Durations as every face shows them: 0.4 s, 12 s, 1m 05s, 2h 03m."""

from __future__ import annotations


def duration(seconds: float | None, *, running: str = "…") -> str:
    """How long something took, read at a glance; `running` when it has not ended."""
    if seconds is None:
        return running
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"
