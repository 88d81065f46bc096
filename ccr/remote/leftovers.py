"""Text that may have landed in a pane without its Enter, remembered per pane.

A dispatch that ends uncertain may still arrive later: over a control channel the command
line is already in the server's socket, and a frozen server runs it when it wakes. The
text then sits unsubmitted in the input box, and the next command typed there would be
appended to it and submitted as one garbled line. So the executor remembers such text per
pane and, before typing there again, looks at the input line: while the old text sits
there, it refuses (nothing typed) and says so, instead of gluing two commands together.
"""

from __future__ import annotations

from collections import OrderedDict

Pane = tuple[str, str, str]
"""(server id, tmux socket options joined, pane id)."""


class Leftovers:
    """A bounded map pane -> the text of its last uncertain dispatch."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._texts: OrderedDict[Pane, str] = OrderedDict()

    def remember(self, pane: Pane, text: str) -> None:
        self._texts[pane] = text
        self._texts.move_to_end(pane)
        while len(self._texts) > self.limit:
            self._texts.popitem(last=False)

    def get(self, pane: Pane) -> str | None:
        return self._texts.get(pane)

    def forget(self, pane: Pane) -> None:
        self._texts.pop(pane, None)

    def __len__(self) -> int:
        return len(self._texts)
