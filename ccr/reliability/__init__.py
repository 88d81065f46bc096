"""Reliability: bounded retry policies per operation kind and per-server circuit breakers.

Infrastructure: imports core and store, never services or faces.
"""
