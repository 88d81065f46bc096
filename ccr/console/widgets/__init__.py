"""Console widgets, grouped by area (one package per screen); the main screen's re-exported."""

from ccr.console.widgets.main import (
    ActivityLog,
    SendBar,
    ServersTable,
    SessionDetail,
    SessionsTable,
)

__all__ = ["ActivityLog", "SendBar", "ServersTable", "SessionDetail", "SessionsTable"]
