"""Breakers: each server's circuit breaker (closed / open / half-open), time to the next probe,
and below it the SSH connection pool per server (the breaker decides what the pool may open).

Breaker rows change on `BreakerStateChanged`; a 1 s tick moves the countdowns and re-reads
the pool's figures (they change with every call, so they are polled, not evented) and the hook
forwards' states (under the pool table).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import ClassVar

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from ccr.console.screens.base import OperatorScreen
from ccr.console.widgets.breakers import BreakersTable, PoolTable
from ccr.core.config import SshServer
from ccr.core.events import BreakerStateChanged, Event
from ccr.reliability.breaker import BreakerRecord


class BreakersScreen(OperatorScreen[None]):
    """Per-server breaker states with a live countdown to each open breaker's next probe,
    and the SSH pool's connections per server."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["operator.tcss", "breakers.tcss"]
    refresh_every = 1.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="explain", classes="explain")
        yield BreakersTable(id="breakers")
        yield PoolTable(id="pool")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(BreakersTable)
        table.border_title = "circuit breakers"
        self.query_one(PoolTable).border_title = "ssh connection pool"
        board = self.hub.breakers
        explain = self.query_one("#explain", Static)
        if board is None:
            explain.update("Circuit breakers are off ([reliability] breakers = false in "
                           "ccr.toml): every call goes to its server.")
            return
        policy = board.policy
        explain.update(
            f"A server's breaker opens after {policy.failures} failures in a row; while open, "
            f"commands to it are refused at once. After {policy.open_s:g} s one probe goes "
            f"through (half-open); {policy.successes} successes close it again.")

    def reload(self) -> None:
        """Breaker states and pool figures are in memory: shown at once, no worker."""
        self._show_pool()
        board = self.hub.breakers
        if board is not None:
            states = board.states()
            now = self.hub.clock()
            table = self.query_one(BreakersTable)
            for server in self.hub.settings.servers:
                table.show(states.get(server.id) or BreakerRecord(server.id), now)
        self.mark_settled()

    def hub_event(self, event: Event) -> None:
        board = self.hub.breakers
        if isinstance(event, BreakerStateChanged) and board is not None:
            record = board.states().get(event.server_id)
            if record is not None:
                self.query_one(BreakersTable).show(record, self.hub.clock())

    def tick(self) -> None:
        """The countdowns move; the pool's figures are re-read (they have no event)."""
        self.query_one(BreakersTable).tick(self.hub.clock())
        self._show_pool()

    def _show_pool(self) -> None:
        """Every SSH server's pool figures (zeros until its first connection)."""
        stats: dict[str, dict[str, int | float]] = {
            s.id: {} for s in self.hub.settings.servers if isinstance(s, SshServer)}
        stats.update(self.hub.pool.stats())
        table = self.query_one(PoolTable)
        table.show(stats)
        table.border_subtitle = forwards_line(self.hub.forwards.up())


def forwards_line(up: dict[str, bool]) -> str:
    """The hook forwards (hooks_via = "ssh") in one line under the pool: how many are up,
    which are down; empty when no server forwards its hooks."""
    if not up:
        return ""
    down = sorted(sid for sid, is_up in up.items() if not is_up)
    line = f"hook forwards: [green]{len(up) - len(down)} up[/]"
    return line + (f", [red]down: {', '.join(down)}[/]" if down else "")
