"""One row per SSH server: its pooled connections now, and what happened to them since start."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

COLUMNS = (("server", "server"), ("open", "open"), ("busy", "busy"), ("idle", "idle"),
           ("chans", "channels"), ("waiting", "waiting"), ("opened", "opened"),
           ("failed", "failed"), ("replaced", "replaced"), ("t/out", "timeouts"))
"""(label, stats key): "chans" are channels in use, "t/out" waits that gave up (pool busy).
Short labels so the table fits 80 columns."""
FIGURES = tuple(key for _, key in COLUMNS[1:])


def cell(key: str, n: int) -> Text:
    """A figure, coloured where it asks for attention (callers waiting, losses, timeouts)."""
    if n and key in ("waiting", "timeouts"):
        return Text(str(n), style="bold yellow")
    if n and key == "failed":
        return Text(str(n), style="red")
    return Text(str(n), style="" if n else "dim")


class PoolTable(DataTable[Any]):
    """The SSH pool per server, from `SshPool.stats()`; `show` adds or updates the rows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, stats: dict[str, dict[str, int | float]]) -> None:
        """Every server's figures; a server with none yet shows zeros."""
        for server, figures in sorted(stats.items()):
            cells = {key: cell(key, int(figures.get(key, 0))) for key in FIGURES}
            if server in self.rows:
                for key, value in cells.items():
                    self.update_cell(server, key, value)
            else:
                self.add_row(Text(server, style="bold"), *cells.values(), key=server)
