"""Finds a monospace TrueType font on the hub's machine for drawing panes.

Known families first (DejaVu Sans Mono, Liberation Mono, ...) in the usual font folders,
then fontconfig's own answer for `monospace`. `CCR_FONT_DIRS` (folders, `:` apart) replaces
the folders searched and turns fontconfig off, so a test or an unusual machine decides.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FONT_DIRS_ENV = "CCR_FONT_DIRS"
MISSING_HINT = "no monospace font on the hub: install fonts-dejavu-core"
"""Said when the picture falls back to text."""

KNOWN: tuple[tuple[str, str], ...] = (
    ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    ("LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf"),
    ("NotoSansMono-Regular.ttf", "NotoSansMono-Bold.ttf"),
    ("UbuntuMono-R.ttf", "UbuntuMono-B.ttf"),
    ("FreeMono.ttf", "FreeMonoBold.ttf"),
)
"""(regular, bold) file names, best first."""
FALLBACKS = ("DejaVuSans.ttf", "NotoSansSymbols2-Regular.ttf", "NotoSansSymbols-Regular.ttf",
             "Symbola.ttf", "DroidSansFallbackFull.ttf", "NotoSansCJK-Regular.ttc")
"""Fonts with wider coverage, for the glyphs the monospace font lacks (symbols, CJK)."""


@dataclass(frozen=True)
class FontFiles:
    """A monospace font's regular file and, where there is one, its bold file."""

    regular: Path
    bold: Path | None
    fallbacks: tuple[Path, ...] = ()


def default_dirs() -> list[Path]:
    home = Path.home()
    return [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"),
            home / ".local/share/fonts", home / ".fonts"]


def find_font(dirs: list[Path] | None = None) -> FontFiles | None:
    """The best monospace font in `dirs` (default: `CCR_FONT_DIRS`, else the system's
    folders and fontconfig); None when there is none."""
    env = os.environ.get(FONT_DIRS_ENV)
    if dirs is None and env is not None:
        dirs = [Path(d) for d in env.split(":") if d]
    if dirs is not None:
        return _search(tuple(dirs))
    return _search(tuple(default_dirs())) or _fontconfig()


_FOUND: dict[tuple[Path, ...], FontFiles] = {}
"""Fonts found, by the folders searched. A miss is not kept: a font installed while the hub
runs is found at the next picture."""


def _search(dirs: tuple[Path, ...]) -> FontFiles | None:
    if dirs in _FOUND:
        return _FOUND[dirs]
    found = _files(dirs)
    for regular, bold in KNOWN:
        if regular in found:
            files = _FOUND[dirs] = FontFiles(found[regular], found.get(bold),
                                             _fallbacks(found))
            return files
    return None


def _files(dirs: tuple[Path, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for pattern in ("*.ttf", "*.ttc", "*.otf"):
            for path in folder.rglob(pattern):
                found.setdefault(path.name, path)
    return found


def _fallbacks(found: dict[str, Path]) -> tuple[Path, ...]:
    return tuple(found[name] for name in FALLBACKS if name in found)


@lru_cache(maxsize=1)
def _fontconfig() -> FontFiles | None:
    """fontconfig's `monospace` (and `monospace:bold`), when it names a TrueType file of a
    font that is monospaced (fontconfig falls back to any font rather than to none)."""
    if shutil.which("fc-match") is None:
        return None

    def match(pattern: str) -> Path | None:
        try:
            out = subprocess.run(["fc-match", "-f", "%{spacing}|%{file}", pattern],
                                 capture_output=True, text=True, timeout=5,
                                 check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        spacing, _, file = out.partition("|")
        if spacing not in ("90", "100"):  # dual width or mono
            return None
        path = Path(file) if file else None
        return path if path is not None and path.suffix.lower() in (".ttf", ".otf") \
            and path.is_file() else None

    regular = match("monospace")
    if regular is None:
        return None
    bold = match("monospace:bold")
    return FontFiles(regular, bold if bold != regular else None,
                     _fallbacks(_files(tuple(default_dirs()))))
