"""The console's screens, one module each; the app switches between them by number key.

Imported on first use (PEP 562): the console paints its first screen without loading the
modules (and the services) of the screens not shown yet."""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "AlertsScreen": "alerts", "AuditScreen": "audit", "BreakersScreen": "breakers",
    "ConfirmScreen": "confirm", "DeadLettersScreen": "dead_letters", "HistoryScreen": "history",
    "HubScreen": "base", "MainScreen": "main", "MetricsScreen": "metrics",
    "NewSessionScreen": "new_session", "OperatorScreen": "base", "OverviewScreen": "overview",
    "TracesScreen": "traces",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
