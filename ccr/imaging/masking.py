"""Which cells of a screen hold a secret, so the picture can blot them out.

`redact` works on text and changes its length; a picture needs cell positions. Rows that
wrap (a full row whose last cell is not blank) are read together, as tmux would join them,
so a token broken over two rows is still found; then each changed line is aligned with its
redacted form and every cell not kept verbatim (in a run of at least KEEP characters) is
masked. A private key block masks every row between its BEGIN and END lines.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from ccr.core.redact import redact

KEEP = 4
"""Shorter runs that survive redaction inside a masked stretch are masked too (fail closed)."""
PEM_BEGIN = "PRIVATE KEY-----"
PEM_END = "-----END"


def _lines(rows: list[str]) -> list[list[tuple[int, int]]]:
    """Logical lines as lists of (row, column) per character: wrapped rows joined."""
    lines: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for r, row in enumerate(rows):
        current += [(r, c) for c in range(len(row))]
        if not (row and row[-1] != " "):  # not wrapped: the line ends here
            lines.append(current)
            current = []
    if current:
        lines.append(current)
    return lines


def secret_cells(rows: list[str]) -> set[tuple[int, int]]:
    """(row, column) of every cell to mask; empty when the screen holds no secret."""
    lines = _lines(rows)
    whole = "\n".join("".join(rows[r][c] for r, c in where) for where in lines)
    if redact(whole) == whole:
        return set()
    masked: set[tuple[int, int]] = set()
    in_key = False
    for where in lines:
        text = "".join(rows[r][c] for r, c in where).rstrip()
        where = where[:len(text)]
        if in_key:
            if PEM_END in text:
                in_key = False
            else:
                masked.update(pos for pos, ch in zip(where, text, strict=True) if ch != " ")
                continue
        if PEM_BEGIN in text and "BEGIN" in text and PEM_END not in text:
            in_key = True
        clean = redact(text)
        if clean == text:
            continue
        keep: set[int] = set()
        for tag, i1, i2, _j1, _j2 in SequenceMatcher(None, text, clean,
                                                     autojunk=False).get_opcodes():
            if tag == "equal" and (i2 - i1 >= KEEP or i1 == 0 or i2 == len(text)):
                keep.update(range(i1, i2))
        masked.update(pos for i, pos in enumerate(where) if i not in keep and text[i] != " ")
    return masked
