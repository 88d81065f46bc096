"""The overview's widgets: plots of the time series and the small live panels."""

from ccr.console.widgets.overview.panels import (
    PaneView,
    Table,
    alert_rows,
    command_rows,
    dead_letter_rows,
    server_rows,
)
from ccr.console.widgets.overview.plot import Plot

__all__ = ["PaneView", "Plot", "Table", "alert_rows", "command_rows", "dead_letter_rows",
           "server_rows"]
