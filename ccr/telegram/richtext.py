"""Claude's replies (Markdown as Claude writes it) as Telegram HTML that Telegram accepts.

Pure functions. The reply is redacted first, then parsed line by line into a flat stream of
tokens (text, opening tag, closing tag). Working on tokens rather than on HTML strings is
what makes cutting safe: a cut only ever falls between tokens or inside a text token before
it is escaped, so it never lands inside a tag or an entity, and the tags still open at the
cut are known and closed (a cut code block stays a code block).

Supported: fenced code blocks (```lang, ~~~; an unterminated fence is code to the end),
inline `code`, **bold**, __bold words__ (not __init__), *italic*/_italic_ (not inside
snake_case or `a * b`), ~~strike~~, `# headings` (bold lines), bullet lists (•) and
numbered lists (kept as text), [text](http(s) url) links, `>` blockquotes. Everything else
is escaped text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal

from ccr.core.redact import redact

LIMIT = 4096
"""Telegram's limit on a message, in UTF-16 units (applied to the raw HTML too, for safety)."""
CUT_MARKER = "✂️ Trimmed here: tap “Show full reply” for the rest."
PART_MARGIN = 16
"""UTF-16 units kept free in each full-reply part (safety against off-by-one surprises)."""

Kind = Literal["text", "open", "close"]

ENABLED = True
"""`[commands] rich_messages`: false renders replies as plain escaped text (a rollback
switch). Set once by `configure` in `Hub.__init__`, like `ccr.core.redact.configure`: the
renderers are plain functions called from many places and the value is process-wide."""


def configure(*, rich: bool) -> None:
    """Turn formatted replies on or off for this process (`[commands] rich_messages`)."""
    global ENABLED
    ENABLED = rich


@dataclass(frozen=True)
class Tok:
    """One token: text (unescaped), or an opening/closing tag with its rendered HTML."""

    kind: Kind
    value: str  # the text, or the tag's HTML
    tag: str = ""

    @property
    def html(self) -> str:
        return esc(self.value) if self.kind == "text" else self.value


@dataclass(frozen=True)
class RichText:
    """Rendered HTML and whether the reply was trimmed to fit (the marker is then in it)."""

    html: str
    truncated: bool


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def u16len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# --- cleaning -------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Redacted text Telegram can carry: no lone surrogates, no control characters, \\n."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return redact(_CONTROL.sub("", text))


# --- parsing --------------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_LANG = re.compile(r"[A-Za-z0-9_+#.-]{1,32}")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(?P<text>.*?)(?:[ \t]+#+)?[ \t]*$")
_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}> ?(?P<text>.*)$")
_BULLET = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+(?P<text>.*)$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")

_URL = r"https?://[A-Za-z0-9.-]+(?::\d+)?(?:/[^\s()<>\"]*(?:\([^\s()<>\"]*\)[^\s()<>\"]*)*)?"
_INLINE = re.compile(
    r"(?P<code>(?P<ticks>`+)(?P<ctext>[^`\n](?:.*?[^`\n])?|[^`\n])(?P=ticks)(?!`))"
    r"|(?P<link>\[(?P<ltext>[^\[\]\n]+)\]\((?P<url>" + _URL + r")\))"
    r"|(?P<bold>\*\*(?P<btext>[^\s*](?:.*?[^\s*])?)\*\*(?!\*))"
    r"|(?P<bold2>(?<![\w_])__(?P<b2text>[^\s_](?:.*?[^\s_])?)__(?![\w_]))"
    r"|(?P<strike>~~(?P<stext>[^\s~](?:.*?[^\s~])?)~~)"
    r"|(?P<ital>(?<![\w*])\*(?P<itext>[^\s*](?:[^*]*?[^\s*])?)\*(?![\w*]))"
    r"|(?P<ital2>(?<![\w_])_(?P<i2text>[^\s_](?:[^_]*?[^\s_])?)_(?![\w_]))")


def _wrap(tag: str, inner: list[Tok], open_html: str | None = None) -> list[Tok]:
    return [Tok("open", open_html or f"<{tag}>", tag), *inner, Tok("close", f"</{tag}>", tag)]


def inline(text: str, *, nested: bool = False) -> list[Tok]:
    """Inline Markdown as tokens. `nested`: inside bold/italic/a link, where Telegram allows
    no code entity and no link, so those stay text."""
    out: list[Tok] = []
    pos = 0
    for m in _INLINE.finditer(text):
        kind = m.lastgroup
        if nested and kind in ("code", "link"):
            continue
        if kind == "bold2" and not any(c.isspace() for c in m.group("b2text")):
            continue  # __init__ is a Python name far more often than bold
        if m.start() > pos:
            out.append(Tok("text", text[pos:m.start()]))
        if kind == "code":
            out += _wrap("code", [Tok("text", m.group("ctext"))])
        elif kind == "link":
            href = html.escape(m.group("url"), quote=True)
            out += _wrap("a", [Tok("text", m.group("ltext"))], f'<a href="{href}">')
        else:
            tag = {"bold": "b", "bold2": "b", "strike": "s"}.get(kind or "", "i")
            inner = m.group({"bold": "btext", "bold2": "b2text", "strike": "stext",
                             "ital": "itext", "ital2": "i2text"}[kind or "ital"])
            out += _wrap(tag, inline(inner, nested=True))
        pos = m.end()
    if pos < len(text):
        out.append(Tok("text", text[pos:]))
    return out


def _line(text: str) -> list[Tok]:
    """One line outside code: heading, bullet, rule or plain, with inline Markdown."""
    if m := _HEADING.match(text):
        return _wrap("b", inline(m.group("text"), nested=True)) if m.group("text") else []
    if _RULE.match(text):
        return [Tok("text", "──────────")]
    if m := _BULLET.match(text):
        return [Tok("text", m.group("indent") + "• "), *inline(m.group("text"))]
    return inline(text)


def tokens(text: str, *, quotes: bool = True) -> list[Tok]:
    """Claude's reply (already cleaned) as a token stream. `quotes`: `>` lines become
    blockquotes; false (inside an enclosing blockquote, which cannot nest) a bar prefix."""
    out: list[Tok] = []
    need_nl = False
    fence = ""  # the open fence ("```", "~~~~"), or "" outside code
    in_quote = False

    def newline() -> None:
        if need_nl:
            out.append(Tok("text", "\n"))

    def close_quote() -> None:
        nonlocal in_quote
        if in_quote:
            out.append(Tok("close", "</blockquote>", "blockquote"))
            in_quote = False

    for line in text.split("\n"):
        if fence:
            c = _CLOSE.match(line)
            if c and c.group(1)[0] == fence[0] and len(c.group(1)) >= len(fence):
                out += [Tok("close", "</code>", "code"), Tok("close", "</pre>", "pre")]
                fence, need_nl = "", True
                continue
            newline()
            out.append(Tok("text", line))
            need_nl = True
            continue
        if m := _FENCE.match(line):
            close_quote()
            newline()
            word = m.group("info").split()[0] if m.group("info").split() else ""
            code_open = (f'<code class="language-{word}">' if _LANG.fullmatch(word)
                         else "<code>")
            out += [Tok("open", "<pre>", "pre"), Tok("open", code_open, "code")]
            fence, need_nl = m.group("fence"), False
            continue
        q = _QUOTE.match(line)
        if q is None or not quotes:
            close_quote()
        newline()
        if q is not None and quotes and not in_quote:
            out.append(Tok("open", "<blockquote>", "blockquote"))
            in_quote = True
        if q is None:
            out += _line(line)
        elif quotes:
            out += _line(q.group("text"))
        else:
            out += [Tok("text", "▍ "), *_line(q.group("text"))]
        need_nl = True
    if fence:  # unterminated: code to the end
        out += [Tok("close", "</code>", "code"), Tok("close", "</pre>", "pre")]
    close_quote()
    return out


# --- fitting --------------------------------------------------------------------------------


def render(toks: list[Tok]) -> str:
    return "".join(t.html for t in toks)


def plain_len(toks: list[Tok]) -> int:
    return sum(u16len(t.value) for t in toks if t.kind == "text")


def _prefix(text: str, plain_room: int, raw_room: int) -> str:
    """The longest prefix of `text` within both rooms (raw counted escaped), moved back to a
    line end or a space when one is near, so a cut reads naturally."""
    lo, hi = 0, len(text)
    while lo < hi:  # largest n with text[:n] fitting
        mid = (lo + hi + 1) // 2
        head = text[:mid]
        if u16len(head) <= plain_room and u16len(esc(head)) <= raw_room:
            lo = mid
        else:
            hi = mid - 1
    head = text[:lo]
    if lo == len(text):
        return head
    for sep, keep in (("\n", 0.5), (" ", 0.8)):
        at = head.rfind(sep)
        if at > 0 and at >= len(head) * keep:
            return head[:at]
    return head


def _closing(stack: list[Tok]) -> list[Tok]:
    return [Tok("close", f"</{t.tag}>", t.tag) for t in reversed(stack)]


def _drop_empty_tail(out: list[Tok], stack: list[Tok]) -> None:
    """Remove tags opened at the very end with nothing in them yet."""
    while out and out[-1].kind == "open":
        out.pop()
        stack.pop()


def fit(toks: list[Tok], budget: int, raw_budget: int = LIMIT, *,
        marker: str = CUT_MARKER, force_marker: bool = False) -> RichText:
    """The tokens as HTML within `budget` UTF-16 units of text and `raw_budget` of HTML,
    cut between tokens or inside a text (never inside a tag or an entity), open tags
    closed, and `marker` (italic, own paragraph) appended when anything was cut."""
    raw_budget = min(raw_budget, LIMIT)
    if not force_marker and plain_len(toks) <= budget and u16len(render(toks)) <= raw_budget:
        return RichText(render(toks), False)
    mark = [Tok("text", "\n\n"), *_wrap("i", [Tok("text", marker)])]
    plain_room = budget - plain_len(mark)
    raw_room = raw_budget - u16len(render(mark))
    out: list[Tok] = []
    stack: list[Tok] = []
    closing = 0  # raw length of the closing tags of `stack`
    line_start: tuple[int, list[Tok]] | None = None  # (len(out), stack) after the last \n
    since_line = 0  # text units since then
    for tok in toks:
        if tok.kind == "open":
            close = u16len(f"</{tok.tag}>")
            if u16len(tok.value) + close + closing > raw_room:
                break
            raw_room -= u16len(tok.value)
            closing += close
            stack.append(tok)
            out.append(tok)
        elif tok.kind == "close":
            raw_room -= u16len(tok.value)
            closing -= u16len(tok.value)
            stack.pop()
            out.append(tok)
        else:
            size, raw = u16len(tok.value), u16len(tok.html)
            if size <= plain_room and raw + closing <= raw_room:
                plain_room -= size
                raw_room -= raw
                out.append(tok)
                if tok.value.endswith("\n"):
                    line_start, since_line = (len(out), list(stack)), 0
                else:
                    since_line += size
                continue
            head = _prefix(tok.value, plain_room, raw_room - closing)
            if line_start is not None and since_line + u16len(head) <= max(200, budget // 5):
                out, stack = out[:line_start[0]], line_start[1]  # end on a whole line
            elif head:
                out.append(Tok("text", head))
            break
    _drop_empty_tail(out, stack)
    while out and out[-1].kind == "text" and not out[-1].value.strip():
        out.pop()
        _drop_empty_tail(out, stack)
    return RichText(render([*out, *_closing(stack), *mark]), True)


def reply_html(text: str, budget: int, *, raw_budget: int = LIMIT, truncated: bool = False,
               quotes: bool = True, marker: str = CUT_MARKER) -> RichText:
    """Claude's reply as Telegram HTML: redacted, formatted, and trimmed with `marker` when
    longer than `budget` UTF-16 units of text (or `raw_budget` of HTML). `truncated`: the
    text given is already a cut of a longer reply, so the marker is always shown."""
    return fit(tokens(clean(text), quotes=quotes), budget, raw_budget,
               marker=marker, force_marker=truncated)


def notification_reply(text: str, budget: int, raw_budget: int, *,
                       truncated: bool = False) -> str:
    """The reply part of a notification. A reply without code goes in an expandable quote
    (long text folds away; Markdown quotes inside become a bar, quotes cannot nest); a
    reply with code is shown as is, since Telegram keeps code blocks out of quotes."""
    cleaned = clean(text)
    if not any(t.tag == "pre" for t in tokens(cleaned)):
        opening, closing = "<blockquote expandable>", "</blockquote>"
        body = fit(tokens(cleaned, quotes=False), budget,
                   raw_budget - u16len(opening + closing), force_marker=truncated)
        return opening + body.html + closing
    return fit(tokens(cleaned), budget, raw_budget, force_marker=truncated).html


def preview_html(text: str, budget: int) -> RichText:
    """A preview of Claude's reply for a message that carries other text (a command's card):
    the same rendering as `reply_html`, trimmed to `budget` UTF-16 units."""
    return reply_html(text, budget)


# --- the full reply in several messages -----------------------------------------------------


def _lines(toks: list[Tok]) -> list[Tok]:
    """Text tokens split after each newline, so messages can be split on line boundaries."""
    out: list[Tok] = []
    for t in toks:
        if t.kind == "text" and "\n" in t.value:
            out += [Tok("text", piece) for piece in re.split(r"(?<=\n)", t.value) if piece]
        else:
            out.append(t)
    return out


def full_reply_parts(text: str, limit: int = LIMIT - PART_MARGIN) -> list[str]:
    """The whole reply as Telegram HTML messages of at most `limit` UTF-16 units each (raw
    HTML, so the text is shorter still), split on line boundaries where possible; a code
    block or quote cut by a split is closed and opened again in the next message."""
    parts: list[str] = []
    current: list[Tok] = []
    stack: list[Tok] = []
    used = closing = 0

    def finish() -> None:
        nonlocal current, used
        body = [*current, *_closing(stack)]
        if any(t.kind == "text" and t.value.strip() for t in body):
            parts.append(render(body).strip("\n"))
        current = list(stack)  # reopen what was open, in the same order
        used = sum(u16len(t.value) for t in stack)

    def has_text() -> bool:
        return any(t.kind == "text" for t in current)

    pending = _lines(tokens(clean(text)))
    pending.reverse()
    while pending:
        tok = pending.pop()
        if tok.kind == "open":
            cost, close = u16len(tok.value), u16len(f"</{tok.tag}>")
            if used + cost + closing + close > limit and has_text():
                finish()
            current.append(tok)
            stack.append(tok)
            used += cost
            closing += close
        elif tok.kind == "close":
            current.append(tok)
            stack.pop()
            used += u16len(tok.value)
            closing -= u16len(tok.value)
        else:
            cost = u16len(tok.html)
            if used + cost + closing <= limit:
                current.append(tok)
                used += cost
                continue
            if has_text():
                finish()
                if used + cost + closing <= limit:
                    current.append(tok)
                    used += cost
                    continue
            head = _prefix(tok.value, limit, limit - used - closing) or tok.value[:1]
            current.append(Tok("text", head))
            used += u16len(esc(head))
            pending.append(Tok("text", tok.value[len(head):]))
            finish()
    finish()
    return parts or ["<i>(Claude's reply is empty)</i>"]
