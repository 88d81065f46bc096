"""Draws a pane's screen (capture-pane -e: text with SGR colour sequences) as a PNG.

Rich parses the SGR sequences (16/256/truecolor, bold, dim, reverse, underline); Pillow draws
each cell on a grid of the pane's size (cols x cell width, rows x cell height) on a dark
background, glyph by glyph so the grid never drifts. Secrets on the screen are blotted out
(ccr.imaging.masking), as `redact` does for text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont
from rich.cells import cell_len
from rich.color import Color, ColorType
from rich.style import Style
from rich.terminal_theme import TerminalTheme
from rich.text import Text

from ccr.imaging.fonts import FontFiles
from ccr.imaging.masking import secret_cells

FONT_SIZE = 15
BLOT = "•"
"""What a masked secret's cells show."""

THEME = TerminalTheme(
    (24, 24, 27), (220, 220, 220),
    [(40, 42, 46), (224, 82, 82), (106, 184, 90), (219, 171, 75), (86, 140, 222),
     (183, 110, 214), (76, 181, 191), (200, 200, 200)],
    [(110, 110, 118), (255, 110, 110), (140, 220, 120), (250, 210, 110), (120, 170, 255),
     (220, 140, 250), (110, 215, 225), (255, 255, 255)],
)
"""Dark background, light text; the 16 ANSI colours as a modern terminal shows them."""

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Cell:
    """One drawn character: its column, the text (one glyph, maybe two cells wide), colours."""

    col: int
    char: str
    fg: RGB
    bg: RGB
    bold: bool
    underline: bool
    strike: bool
    width: int


@dataclass(frozen=True)
class Metrics:
    """A font's grid cell, in pixels."""

    cell_w: int
    cell_h: int
    ascent: int


class PaneFont:
    """A monospace font at the picture's size, with its bold face where there is one."""

    def __init__(self, files: FontFiles, size: int = FONT_SIZE) -> None:
        self.files = files
        self.regular = ImageFont.truetype(str(files.regular), size)
        self.bold = (ImageFont.truetype(str(files.bold), size) if files.bold is not None
                     else self.regular)
        ascent, descent = self.regular.getmetrics()
        self.metrics = Metrics(cell_w=max(1, round(self.regular.getlength("M"))),
                               cell_h=ascent + descent, ascent=ascent)
        self.fallbacks = [ImageFont.truetype(str(path), size) for path in files.fallbacks]
        self._missing = _ink(self.regular, NO_GLYPH)
        """The regular font's "no such glyph" box, to tell a missing glyph from a real one."""
        self._glyphs: dict[tuple[str, bool], tuple[int, int, Image.Image] | None] = {}

    def glyph(self, char: str, bold: bool) -> tuple[int, int, Image.Image] | None:
        """(x offset, y offset, mask) of one character, drawn once and kept; None for a
        glyph with no ink."""
        key = (char, bold)
        if key not in self._glyphs:
            font = self._font_for(char, self.bold if bold else self.regular)
            left, top, right, bottom = (int(v) for v in font.getbbox(char))
            if right <= left or bottom <= top:
                self._glyphs[key] = None
            else:
                mask = Image.new("L", (right - left, bottom - top), 0)
                ImageDraw.Draw(mask).text((-left, -top), char, fill=255, font=font)
                self._glyphs[key] = (left, top, mask)
        return self._glyphs[key]

    def _font_for(self, char: str, font: ImageFont.FreeTypeFont) -> ImageFont.FreeTypeFont:
        """`font`, or the first fallback font that has the glyph it lacks."""
        if not self.fallbacks or char.isascii() or _ink(self.regular, char) != self._missing:
            return font
        for other in self.fallbacks:
            if _ink(other, char) != _ink(other, NO_GLYPH):
                return other
        return font


NO_GLYPH = "\U0010fffd"
"""A private-use code point no font draws: what a font shows for a glyph it lacks."""


@lru_cache(maxsize=4096)
def _ink(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    """The glyph as drawn (its box and its pixels), to compare glyphs."""
    left, top, right, bottom = (int(v) for v in font.getbbox(char))
    image = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(image).text((-left, -top), char, fill=255, font=font)
    return repr((left, top, right, bottom)).encode() + image.tobytes()


@lru_cache(maxsize=4)
def pane_font(files: FontFiles, size: int = FONT_SIZE) -> PaneFont:
    return PaneFont(files, size)


def _rgb(color: Color | None, *, foreground: bool) -> RGB:
    if color is None or color.type is ColorType.DEFAULT:
        c = THEME.foreground_color if foreground else THEME.background_color
    else:
        c = color.get_truecolor(THEME, foreground=foreground)
    return (c.red, c.green, c.blue)


def _blend(a: RGB, b: RGB) -> RGB:
    return ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2, (a[2] + b[2]) // 2)


Look = tuple[RGB, RGB, bool, bool, bool]
"""fg, bg, bold, underline, strike."""


@lru_cache(maxsize=1024)
def _look(style: Style) -> Look:
    fg = _rgb(style.color, foreground=True)
    bg = _rgb(style.bgcolor, foreground=False)
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:
        fg = _blend(fg, bg)
    return fg, bg, bool(style.bold), bool(style.underline), bool(style.strike)


def row_cells(row: str, width: int) -> list[Cell]:
    """The cells of one captured row with their colours, up to `width` columns. Spaces
    on the default background are left out (nothing to draw)."""
    text = Text.from_ansi(row, end="")
    plain = text.plain
    base = text.style if isinstance(text.style, Style) else Style()
    styles: list[Style] = [base] * len(plain)
    for span in text.spans:
        style = span.style if isinstance(span.style, Style) else Style.parse(str(span.style))
        for i in range(span.start, min(span.end, len(plain))):
            styles[i] = styles[i] + style
    cells: list[Cell] = []
    col = 0
    plain_bg = THEME.background_color
    for ch, style in zip(plain, styles, strict=True):
        w = 1 if ch.isascii() else cell_len(ch)
        if w == 0:
            continue
        if col + w > width:
            break
        fg, bg, bold, underline, strike = _look(style)
        if ch != " " or bg != plain_bg or underline:
            cells.append(Cell(col, ch, fg, bg, bold, underline, strike, w))
        col += w
    return cells


def screen_cells(rows: list[str], width: int) -> list[list[Cell]]:
    """Every row's cells, with the cells of secrets on the screen blotted out."""
    grid = [row_cells(row, width) for row in rows]
    masked = secret_cells(grid_text(grid, width))
    if masked:
        grid = [[Cell(c.col, BLOT if (r, c.col) in masked and c.char.strip() else c.char,
                      c.fg, c.bg, c.bold, c.underline, c.strike, c.width) for c in row]
                for r, row in enumerate(grid)]
    return grid


def grid_text(grid: list[list[Cell]], width: int) -> list[str]:
    """The plain text of each row, exactly `width` columns (wide glyphs pad a space)."""
    out = []
    for row in grid:
        chars = [" "] * width
        for c in row:
            chars[c.col] = c.char
        out.append("".join(chars))
    return out


def render(rows: list[str], width: int, height: int, font: PaneFont) -> Image.Image:
    """The picture of a screen of `width` x `height` cells."""
    m = font.metrics
    image = Image.new("RGB", (max(1, width) * m.cell_w, max(1, height) * m.cell_h),
                      THEME.background_color)
    draw = ImageDraw.Draw(image)
    for r, cells in enumerate(screen_cells(rows[:height], width)):
        top = r * m.cell_h
        for c in cells:
            left = c.col * m.cell_w
            right = left + c.width * m.cell_w
            if c.bg != THEME.background_color:
                draw.rectangle((left, top, right - 1, top + m.cell_h - 1), fill=c.bg)
            if c.char != " ":
                glyph = font.glyph(c.char, c.bold)
                if glyph is not None:
                    draw.bitmap((left + glyph[0], top + glyph[1]), glyph[2], fill=c.fg)
            if c.underline:
                draw.line((left, top + m.ascent + 1, right - 1, top + m.ascent + 1), fill=c.fg)
            if c.strike:
                mid = top + m.cell_h // 2
                draw.line((left, mid, right - 1, mid), fill=c.fg)
    return image


def render_png(rows: list[str], width: int, height: int, font: PaneFont) -> bytes:
    """The picture as PNG bytes."""
    buf = io.BytesIO()
    render(rows, width, height, font).save(buf, "PNG", compress_level=3)
    return buf.getvalue()
