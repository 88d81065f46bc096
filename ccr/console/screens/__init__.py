"""The console's screens, one module each; the app switches between them by number key."""

from ccr.console.screens.alerts import AlertsScreen
from ccr.console.screens.audit import AuditScreen
from ccr.console.screens.base import HubScreen, OperatorScreen
from ccr.console.screens.breakers import BreakersScreen
from ccr.console.screens.confirm import ConfirmScreen
from ccr.console.screens.dead_letters import DeadLettersScreen
from ccr.console.screens.history import HistoryScreen
from ccr.console.screens.main import MainScreen
from ccr.console.screens.metrics import MetricsScreen
from ccr.console.screens.new_session import NewSessionScreen
from ccr.console.screens.overview import OverviewScreen
from ccr.console.screens.traces import TracesScreen

__all__ = ["AlertsScreen", "AuditScreen", "BreakersScreen", "ConfirmScreen", "DeadLettersScreen",
           "HistoryScreen", "HubScreen", "MainScreen", "MetricsScreen", "NewSessionScreen",
           "OperatorScreen", "OverviewScreen", "TracesScreen"]
