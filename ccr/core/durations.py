"""Durations as every face shows them: 0.4 s, 12 s, 1m 05s, 2h 03m; ages as 5s, 3m, 2h05m."""

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


def ago(seconds: float) -> str:
    """How long ago, compact enough for a table cell: 5s, 3m, 2h05m."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float | None:
    """"90s", "15m", "2h", "7d", "1w" (or a plain number of seconds) in seconds; None when
    it is not one of those."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:], 0) if text else 0
    number = text[:-1] if unit else text
    if not number or len(number) > 9 or not number.isascii() or not number.isdigit():
        return None
    return float(int(number) * (unit or 1))
