"""A time-series plot drawn with Rich text: bars of eighth blocks, a y axis with its unit and
scale, an x axis from "-60m" to "now". Small enough to repaint every few seconds.

Own widget rather than a plotting library: a bar per column is all these figures need, the
output is plain text (so SVG snapshots are stable), and no dependency has to keep up with
Textual's releases.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"
Points = list[float | None]


def columns(points: Points, width: int) -> Points:
    """`points` squeezed (or kept) to `width` columns: each column the highest of its points,
    None where all of them are None; the newest point always lands in the last column."""
    if width <= 0:
        return []
    n = len(points)
    if n <= width:
        return [None] * (width - n) + list(points)
    out: Points = []
    for c in range(width):
        chunk = [p for p in points[c * n // width:(c + 1) * n // width] if p is not None]
        out.append(max(chunk) if chunk else None)
    return out


def nice_top(high: float) -> float:
    """The y axis' top: `high` rounded up to 1, 2 or 5 times a power of ten."""
    if high <= 0:
        return 1.0
    power = 10.0 ** (len(str(int(high))) - 1) if high >= 1 else 1.0
    while power > high:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= high:
            return step * power
    return 10 * power


class Plot(Widget):
    """One series over time: `points` (oldest first, None for "no data") and a unit."""

    DEFAULT_CSS = """
    Plot { height: 8; }
    """
    points: reactive[Points] = reactive(list, always_update=False)

    def __init__(self, label: str, fmt: Callable[[float], str], *, colour: str = "cyan",
                 span: str = "-60m", id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.fmt = fmt
        self.colour = colour
        self.span = span
        self.border_title = label

    def _bars(self, out: Text, line: str) -> None:
        """A row of cells; full cells as the colour's background (drawn as exact boxes in
        SVG exports, where a font's block glyphs may be narrower than a cell)."""
        start = 0
        for i in range(1, len(line) + 1):
            if i == len(line) or (line[i] == "█") != (line[start] == "█"):
                chunk = line[start:i]
                if chunk[0] == "█":
                    out.append(" " * len(chunk), style=f"on {self.colour}")
                else:
                    out.append(chunk, style=self.colour)
                start = i

    def render(self) -> Text:
        rows = max(1, self.content_size.height - 1)  # the last line is the x axis
        values = [p for p in self.points if p is not None]
        top = nice_top(max(values) if values else 0.0)
        labels = [self.fmt(top), self.fmt(top / 2), self.fmt(0.0)]
        gutter = max(len(s) for s in labels) + 1
        width = max(1, self.content_size.width - gutter - 1)
        cols = columns(self.points, width)
        out = Text(no_wrap=True, overflow="crop")
        for r in range(rows):
            mark = {0: labels[0], rows // 2: labels[1], rows - 1: labels[2]}.get(r, "")
            out.append(mark.rjust(gutter - 1) + " ", style="dim")
            out.append("┤" if mark else "│", style="dim")
            floor = (rows - 1 - r) * 8
            cells = []
            for v in cols:
                if v is None:
                    cells.append(" ")
                    continue
                eighths = round(v / top * rows * 8) if top else 0
                if v > 0:
                    eighths = max(eighths, 1)  # a small value still shows
                cells.append(BLOCKS[max(0, min(8, eighths - floor))])
            self._bars(out, "".join(cells))
            out.append("\n")
        axis = "└" + "─" * width
        out.append(" " * (gutter - 1) + " " + axis[:1], style="dim")
        right = " now"
        left = self.span
        middle = max(0, width - len(left) - len(right))
        out.append((left + " " * middle + right)[:width], style="dim")
        return out
