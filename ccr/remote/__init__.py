"""Reaching tmux: transports (local process, SSH, tmux control mode), the SSH pool and the executor.

Infrastructure: imports core, reliability and telemetry, never services or faces.
"""
