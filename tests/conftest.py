"""Shared fixtures: real tmux, real sshd, the Bot API stand-in, the real hub process."""

from __future__ import annotations

pytest_plugins = ["tests.fixtures.tmux", "tests.fixtures.sshd", "tests.fixtures.hub"]
