"""Say in text how a console snapshot differs from the stored one.

CI keeps no HTML report, so a failed snapshot prints the screen lines that changed (or,
when only colours changed, which lines and where) instead of a bare `assert False`.
"""

from __future__ import annotations

import difflib
import html
import re
from collections import defaultdict

CELL_W = 12.2
LINE_H = 24.4
TOP = 1.5

_STYLE = re.compile(r"\.terminal(?:-\d+)?-(r\d+)\s*\{([^}]*)\}")
_TEXT = re.compile(r'<text class="terminal(?:-\d+)?-(r\d+)" x="([\d.]+)" y="[\d.]+" '
                   r'textLength="[\d.]+" clip-path="url\(#terminal(?:-\d+)?-line-(\d+)\)">'
                   r"([^<]*)</text>")
_RECT = re.compile(r'<rect fill="(#[0-9a-f]+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                   r'height="[\d.]+" shape-rendering="crispEdges"/>')


def _col(x: str) -> int:
    return round(float(x) / CELL_W)


def screen(svg: str) -> tuple[list[str], list[list[str]]]:
    """The screen's text lines, and per line each cell's look (text style and background)."""
    styles = {name: body.strip() for name, body in _STYLE.findall(svg)}
    chars: dict[int, dict[int, str]] = defaultdict(dict)
    looks: dict[int, dict[int, str]] = defaultdict(dict)
    for fill, x, y, width in _RECT.findall(svg):
        line = round((float(y) - TOP) / LINE_H)
        for col in range(_col(x), _col(x) + round(float(width) / CELL_W)):
            looks[line][col] = f"bg {fill}"
    for cls, x, line_s, text in _TEXT.findall(svg):
        line, start = int(line_s), _col(x)
        for k, ch in enumerate(html.unescape(text).replace("\xa0", " ")):
            chars[line][start + k] = ch
            looks[line][start + k] = looks[line].get(start + k, "") + " / " + styles.get(cls, cls)
    height = max([*chars, *looks], default=-1) + 1
    lines = []
    cells = []
    for line in range(height):
        width = max([*chars[line], *looks[line]], default=-1) + 1
        lines.append("".join(chars[line].get(c, " ") for c in range(width)).rstrip())
        cells.append([looks[line].get(c, "") for c in range(width)])
    return lines, cells


def explain(expected: str, actual: str, *, limit: int = 60) -> str:
    """A unified diff of the two screens' text; when the text is the same, the cells whose
    colour or weight changed."""
    old_lines, old_cells = screen(expected)
    new_lines, new_cells = screen(actual)
    if old_lines != new_lines:
        diff = list(difflib.unified_diff(old_lines, new_lines, "stored", "taken", lineterm="",
                                         n=1))
        return "screen text differs:\n" + "\n".join(diff[:limit])
    out = ["screen text is the same; these cells look different:"]
    for line, (old, new) in enumerate(zip(old_cells, new_cells, strict=False)):
        changed = [c for c in range(max(len(old), len(new)))
                   if (old[c] if c < len(old) else "") != (new[c] if c < len(new) else "")]
        if changed:
            c = changed[0]
            out.append(f"line {line} cols {changed[0]}-{changed[-1]} ({new_lines[line]!r}): "
                       f"{old[c] if c < len(old) else '-'} -> {new[c] if c < len(new) else '-'}")
        if len(out) > limit:
            break
    if len(out) == 1:
        out.append("(no cell differs: the SVGs differ elsewhere)")
    return "\n".join(out)
