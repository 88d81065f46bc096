"""The tmux argv that reads a pane as it is now (with its colours), and its answer parsed.

One round trip: `display-message` prints the pane's size, liveness and tmux session, then
`capture-pane -e` prints the visible screen with its SGR colour sequences. The executor runs
it under its breaker, retry policy and trace (ccr.remote.executor.Executor.screen).
"""

from __future__ import annotations

from dataclasses import dataclass

SCREEN_FORMAT = "#{pane_width}:#{pane_height}:#{pane_dead}:#{session_name}"
"""Colons apart: tmux keeps them out of session names, and the session name comes last."""


@dataclass(frozen=True)
class PaneScreen:
    """A pane's visible screen: `ansi` holds its rows with SGR sequences (capture-pane -e)."""

    width: int
    height: int
    ansi: str
    session_name: str = ""
    dead: bool = False

    @property
    def rows(self) -> list[str]:
        """The screen's rows, exactly `height` of them (tmux may trim trailing empty ones)."""
        rows = self.ansi.split("\n")[: self.height]
        return rows + [""] * (self.height - len(rows))


def screen_args(sock: list[str], pane: str) -> list[str]:
    return [*sock, "display-message", "-p", "-t", pane, SCREEN_FORMAT, ";",
            "capture-pane", "-e", "-p", "-t", pane]


def tail_args(sock: list[str], pane: str, lines: int) -> list[str]:
    """The size line as for `screen_args`, then the pane's history (up to `lines` rows
    back) and screen as plain text, wrapped lines joined (-J) so a long line reads as one."""
    return [*sock, "display-message", "-p", "-t", pane, SCREEN_FORMAT, ";",
            "capture-pane", "-p", "-J", "-S", f"-{max(0, lines)}", "-t", pane]


def parse_screen(out: str) -> PaneScreen | None:
    """The answer of `screen_args` (or `tail_args`, whose text is plain); None when its
    first line is not the size line."""
    first, _, screen = out.partition("\n")
    parts = first.strip().split(":", 3)
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    if screen.endswith("\n"):
        screen = screen[:-1]
    return PaneScreen(width=int(parts[0]), height=int(parts[1]), ansi=screen,
                      session_name=parts[3], dead=parts[2] == "1")


def last_lines(text: str, lines: int) -> str:
    """The last `lines` lines of a capture, trailing empty rows dropped (a short pane
    leaves the bottom of its screen blank)."""
    rows = text.rstrip("\n").split("\n")
    while rows and not rows[-1].strip():
        rows.pop()
    return "\n".join(rows[-lines:]) if lines > 0 else ""
