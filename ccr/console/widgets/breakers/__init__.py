"""The breakers screen's widgets: the breakers, and the SSH pool beside them."""

from ccr.console.widgets.breakers.pool import PoolTable
from ccr.console.widgets.breakers.table import BreakersTable, countdown

__all__ = ["BreakersTable", "PoolTable", "countdown"]
