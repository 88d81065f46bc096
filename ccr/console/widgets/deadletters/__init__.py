"""The dead-letters screen's widgets."""

from ccr.console.widgets.deadletters.table import DeadLettersTable

__all__ = ["DeadLettersTable"]
