"""A session's pane as a picture (`/screen`, the console's `s`) or as text (`/tail`).

One verb per need, for every face: `picture` (PNG bytes, or the text with a note saying why
when the hub has no monospace font), `tail` (the last N lines, redacted) and `save` (the
picture written to the screenshots folder). The capture goes through the executor, so its
breaker, retry policy and trace apply as for typing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ccr.core.errors import InputError
from ccr.core.models import Session
from ccr.core.redact import redact
from ccr.imaging.fonts import MISSING_HINT, FontFiles, find_font
from ccr.remote.screen import PaneScreen

TAIL_DEFAULT = 30
TAIL_MAX = 2000
"""The most lines `tail` reads back (tmux keeps 2,000 lines of history by default)."""


class Panes(Protocol):
    async def screen(self, session: Session) -> PaneScreen: ...
    async def tail(self, session: Session, lines: int) -> str: ...


class Resolver(Protocol):
    async def resolve(self, ref: str) -> Session: ...


@dataclass(frozen=True)
class Picture:
    """A pane as it was at `taken_at`: `png` (None when no font was found: then `text`
    holds the screen and `note` says why)."""

    session: Session
    width: int
    height: int
    taken_at: float
    png: bytes | None
    text: str
    note: str = ""
    render_s: float = 0.0

    @property
    def filename(self) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.taken_at))
        return f"{self.session.handle.replace(':', '-')}-{stamp}.png"


@dataclass(frozen=True)
class Tail:
    session: Session
    lines: int
    """How many lines were asked for (after the cap)."""
    text: str
    capped_from: int | None = None
    """The number asked for when it was above TAIL_MAX."""


def screenshots_dir() -> Path:
    """Where `save` writes: $XDG_DATA_HOME/ccr/screenshots (~/.local/share/ccr/screenshots)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ccr" / "screenshots"


def tail_lines(raw: str | int | None) -> tuple[int, int | None]:
    """A requested number of lines: (lines, the number asked when it was capped)."""
    if raw is None or raw == "":
        return TAIL_DEFAULT, None
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise InputError("tail_lines_invalid", lines=text[:20], limit=TAIL_MAX)
    n = int(text)
    return (TAIL_MAX, n) if n > TAIL_MAX else (n, None)


class ScreenService:
    """Reads panes through the executor and draws them (ccr.imaging)."""

    def __init__(self, sessions: Resolver, panes: Panes, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.sessions = sessions
        self.panes = panes
        self.clock = clock

    async def picture(self, ref: str) -> Picture:
        """The session's pane now, as a PNG (drawn off the event loop)."""
        session = await self.sessions.resolve(ref)
        shot = await self.panes.screen(session)
        taken = self.clock()
        files = find_font()
        if files is None:
            text = redact("\n".join(_plain(shot.rows)).rstrip())
            return Picture(session, shot.width, shot.height, taken, None, text, MISSING_HINT)
        started = time.perf_counter()
        png = await asyncio.to_thread(_draw, shot.rows, shot.width, shot.height, files)
        return Picture(session, shot.width, shot.height, taken, png, "",
                       render_s=time.perf_counter() - started)

    async def tail(self, ref: str, lines: str | int | None = None) -> Tail:
        """The last `lines` lines of the session's pane, redacted (TAIL_DEFAULT when None;
        capped at TAIL_MAX; anything but a positive whole number is `tail_lines_invalid`)."""
        n, capped = tail_lines(lines)
        session = await self.sessions.resolve(ref)
        text = await self.panes.tail(session, n)
        return Tail(session, n, redact(text), capped)

    async def save(self, ref: str, folder: Path | None = None) -> Path:
        """The picture written to `folder` (default `screenshots_dir()`); its path. Without
        a font, the text is written instead (a .txt file, its first line the note)."""
        picture = await self.picture(ref)
        folder = folder or screenshots_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / picture.filename
        if picture.png is None:
            path = path.with_suffix(".txt")
            path.write_text(f"({picture.note})\n{picture.text}\n", encoding="utf-8")
        else:
            path.write_bytes(picture.png)
        return path


def _plain(rows: list[str]) -> list[str]:
    """Rows without their SGR sequences."""
    from rich.text import Text

    return [Text.from_ansi(row, end="").plain.rstrip() for row in rows]


def _draw(rows: list[str], width: int, height: int, files: FontFiles) -> bytes:
    """Draw in a worker thread; Pillow is imported there, on the first picture, not at start."""
    from ccr.imaging.pane_image import pane_font, render_png

    return render_png(rows, width, height, pane_font(files))
