"""The main screen's widgets: servers, sessions, the last exchange, the activity log, send."""

from ccr.console.widgets.main.activity import ActivityLog
from ccr.console.widgets.main.send_bar import SendBar
from ccr.console.widgets.main.servers import ServersTable
from ccr.console.widgets.main.sessions import SessionDetail, SessionsTable

__all__ = ["ActivityLog", "SendBar", "ServersTable", "SessionDetail", "SessionsTable"]
