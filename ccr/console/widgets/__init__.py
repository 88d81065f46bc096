"""Console widgets, one per area: servers, sessions, the activity log, the send bar."""

from ccr.console.widgets.activity import ActivityLog
from ccr.console.widgets.send_bar import SendBar
from ccr.console.widgets.servers import ServersTable
from ccr.console.widgets.sessions import SessionDetail, SessionsTable

__all__ = ["ActivityLog", "SendBar", "ServersTable", "SessionDetail", "SessionsTable"]
