"""Claude Code's permission dialogs and questions, read from a captured pane screen.

Pure: screen text in (`Executor.capture`), a `Prompt` or None out. Only a dialog that is
still the last thing on the screen counts: older, answered ones scroll above it, and a
numbered list in Claude's output is not a question. docs/prompts.md lists the shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MARKERS = "❯›"
"""The highlighted option's pointer (Claude Code draws ❯)."""
SIDES = "│┃║"
TOPS = "╭┌╔"
BOTTOMS = "╰└╚"
RULE = re.compile(r"^[─━═╌┄]{3,}$")
OPTION = re.compile(rf"^(?P<lead>\s*)(?P<mark>[{MARKERS}])?(?P<gap>\s*)(?P<num>\d{{1,2}})\.\s+"
                    r"(?P<label>\S.*)$")
FOOTER = re.compile(r"^(?:esc|enter|tab|shift|ctrl|space|press|↑|↓|←|→|\?)", re.IGNORECASE)
ESC = re.compile(r"(?<![a-z])esc(?![a-z])", re.IGNORECASE)
OUTPUT = ("●", "⎿", "> ", "✻", "✶", "✳", "✢", "·")
"""Line starts that belong to Claude's transcript or input line, never to a dialog."""
PERMISSION_TITLES = (
    "Bash command", "Edit file", "Create file", "Write file", "Read file", "Fetch",
    "Web Search", "Web search", "Tool use", "Notebook edit", "Edit notebook", "Read files",
)
PLAN_TITLE = "Ready to code?"
MAX_OPTIONS = 9
MAX_BODY = 40


@dataclass(frozen=True)
class Option:
    """One numbered choice; `detail` is a description printed under it (questions only)."""

    number: int
    label: str
    detail: str = ""


@dataclass(frozen=True)
class Prompt:
    """A dialog waiting for a keypress.

    kind: "permission" (a tool needs approval), "plan" (plan mode's "Would you like to
    proceed?") or "question" (AskUserQuestion and other numbered menus).
    """

    kind: str
    question: str
    title: str
    context: tuple[str, ...]
    options: tuple[Option, ...]
    esc: bool
    selected: int

    def option(self, number: int) -> Option | None:
        return next((o for o in self.options if o.number == number), None)

    def same(self, other: Prompt | None) -> bool:
        """The same dialog (what is asked and offered), wherever the highlight is."""
        return (other is not None and other.kind == self.kind
                and other.question == self.question and other.options == self.options)

    def options_json(self) -> list[dict[str, Any]]:
        return [{"number": o.number, "label": o.label, "detail": o.detail}
                for o in self.options]


@dataclass
class _Line:
    text: str
    kind: str  # "text", "blank", "top", "bottom", "rule"


def _strip_box(raw: str) -> _Line:
    """A screen line without box sides (nested boxes too), classified."""
    line = raw.replace("\xa0", " ").replace("\t", "    ").rstrip()
    while True:
        stripped = line.lstrip()
        if stripped and stripped[0] in SIDES:
            inner = stripped[1:]
            inner = inner[1:] if inner.startswith(" ") else inner
            line = re.sub(rf"\s*[{SIDES}]$", "", inner.rstrip())
            continue
        break
    body = line.strip()
    if not body:
        return _Line("", "blank")
    if body[0] in TOPS and body[-1] in "╮┐╗" and _ruled(body[1:-1]):
        return _Line("", "top")
    if body[0] in BOTTOMS and body[-1] in "╯┘╝" and _ruled(body[1:-1]):
        return _Line("", "bottom")
    if RULE.match(body):
        return _Line("", "rule")
    return _Line(line, "text")


def _ruled(middle: str) -> bool:
    return all(ch in "─━═╌┄ " for ch in middle)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _footer(text: str) -> bool:
    body = text.strip()
    return len(body) <= 160 and bool(FOOTER.match(body)) and (
        " to " in body.lower() or "·" in body or "for shortcuts" in body)


def parse(screen: str) -> Prompt | None:
    """The dialog at the bottom of `screen`, or None when none is waiting there."""
    lines = [_strip_box(raw) for raw in screen.split("\n")]
    end = len(lines)
    footers: list[str] = []
    while end > 0:
        line = lines[end - 1]
        if line.kind in ("blank", "bottom", "rule"):
            end -= 1
        elif line.kind == "text" and _footer(line.text):
            footers.append(line.text.strip())
            end -= 1
        else:
            break
    if end == 0:
        return None
    for start in range(end - 1, -1, -1):
        m = OPTION.match(lines[start].text) if lines[start].kind == "text" else None
        if m is None or m["num"] != "1":
            continue
        block = _block(lines, start, end)
        if block is not None:
            return _prompt(lines, start, block, footers)
    return None


Block = list[tuple[int, str, bool, list[str]]]


def _block(lines: list[_Line], start: int, end: int) -> Block | None:
    """Options 1..n from `start` to exactly `end`: (number, label, marked, continuation)."""
    options: Block = []
    column = 0
    for line in lines[start:end]:
        if line.kind == "blank" or (line.kind == "rule" and options):
            continue  # Claude Code rules off "Chat about this" from a question's answers
        if line.kind != "text":
            return None
        m = OPTION.match(line.text)
        if m is not None and int(m["num"]) == len(options) + 1:
            options.append((int(m["num"]), m["label"].strip(), bool(m["mark"]), []))
            column = len(m["lead"]) + (1 if m["mark"] else 0) + len(m["gap"])
            continue
        if options and _indent(line.text) > column:
            options[-1][3].append(line.text.strip())
            continue
        return None
    if not 2 <= len(options) <= MAX_OPTIONS or sum(o[2] for o in options) != 1:
        return None
    return options


def _prompt(lines: list[_Line], start: int, block: Block, footers: list[str]) -> Prompt | None:
    q = start - 1
    while q >= 0 and lines[q].kind == "blank":
        q -= 1
    if q < 0 or lines[q].kind != "text" or lines[q].text.strip().startswith(OUTPUT):
        return None
    question = lines[q].text.strip()
    body = _body(lines, q)
    title = body[0] if body else ""
    if question.startswith("Would you like to proceed") or title == PLAN_TITLE:
        kind = "plan"
    elif title in PERMISSION_TITLES or question.startswith("Do you want to"):
        kind = "permission"
    else:
        kind = "question"
    if kind == "question" and title and not title.startswith(("☐", "☒", "✔", "□", "■", "←")):
        title = ""  # an AskUserQuestion's header chip is its title; other text is context
    context = tuple(body[1:] if title else body)
    joined = kind != "question"
    options = tuple(
        Option(number, " ".join([label, *more]) if joined else label,
               "" if joined else " ".join(more))
        for number, label, _, more in block)
    selected = next(number for number, _, marked, _ in block if marked)
    esc = any(ESC.search(o.label) for o in options) or any(ESC.search(f) for f in footers)
    return Prompt(kind=kind, question=question, title=title, context=context,
                  options=options, esc=esc, selected=selected)


def _body(lines: list[_Line], q: int) -> list[str]:
    """The dialog's lines above its question, top down, up to its top border or rule."""
    out: list[str] = []
    depth = 0
    i = q - 1
    while i >= 0 and len(out) < MAX_BODY:
        line = lines[i]
        if line.kind == "bottom":
            depth += 1
        elif line.kind == "top":
            if depth == 0:
                break
            depth -= 1
        elif line.kind == "rule":
            if depth == 0:
                break
        elif line.kind == "text":
            text = line.text.strip()
            if depth == 0 and text.startswith(OUTPUT):
                break
            if depth == 0 and text in (*PERMISSION_TITLES, PLAN_TITLE):
                out.append(text)
                break
            out.append(text)
        i -= 1
    out.reverse()
    return out
