"""The metrics screen's widgets: one pane of sparklines per server."""

from ccr.console.widgets.metrics.pane import MetricRow, Series, ServerMetrics

__all__ = ["MetricRow", "Series", "ServerMetrics"]
