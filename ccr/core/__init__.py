"""What every layer shares: domain types, errors, events, configuration, redaction, durations.

Imports nothing else from ccr: every other package may import from here.
"""
