"""The alerts screen's widgets."""

from ccr.console.widgets.alerts.table import AlertsTable, since, value_text

__all__ = ["AlertsTable", "since", "value_text"]
