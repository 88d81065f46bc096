"""The traces screen's widgets: the recent traces and one trace's timeline."""

from ccr.console.widgets.traces.table import TracesTable
from ccr.console.widgets.traces.timeline import TraceTimeline

__all__ = ["TraceTimeline", "TracesTable"]
