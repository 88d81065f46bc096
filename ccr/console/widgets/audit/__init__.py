"""The audit screen's widget: the log's entries, newest first."""

from ccr.console.widgets.audit.table import AuditTable

__all__ = ["AuditTable"]
