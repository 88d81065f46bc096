"""The breakers screen's widgets."""

from ccr.console.widgets.breakers.table import BreakersTable, countdown

__all__ = ["BreakersTable", "countdown"]
