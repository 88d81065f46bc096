"""Reliability: bounded retries per operation kind and per-server circuit breakers."""
