"""Telemetry: metrics, rolling time series, tracing (spans in SQLite), alerts, health, log sink.

Infrastructure: imports core, store and the other infrastructure packages, never services
or faces.
"""
