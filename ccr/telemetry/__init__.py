"""Telemetry: metrics and rolling time series (metrics.py, timeseries.py), tracing."""
