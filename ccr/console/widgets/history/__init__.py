"""The history screen's widgets: the matching commands and one command's detail."""

from ccr.console.widgets.history.detail import CommandDetail
from ccr.console.widgets.history.table import HistoryTable

__all__ = ["CommandDetail", "HistoryTable"]
