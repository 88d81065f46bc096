"""Shared fixtures: real tmux, real sshd, the Bot API stand-in, the real hub process."""

from __future__ import annotations

import gc

import pytest

pytest_plugins = ["tests.fixtures.tmux", "tests.fixtures.sshd", "tests.fixtures.hub"]


@pytest.fixture(autouse=True)
def _short_gc_pauses() -> None:
    """Collect what the tests before left, then freeze what survives: this test's collections
    scan only its own objects. A worker that has run hundreds of tests holds millions of
    objects (Textual's and Rich's caches among them), and one full collection over them
    stopped every thread of a console test, the database's included, for 5.6 s."""
    gc.collect()
    gc.freeze()
