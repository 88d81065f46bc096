"""The real-client tests may skip on a developer's machine, never silently under CI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import claude


@pytest.fixture
def no_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("CCR_CLAUDE_BIN", str(tmp_path / "no-such-claude"))
    claude.find_claude.cache_clear()
    yield
    claude.find_claude.cache_clear()


def test_missing_client_skips_with_how_to_get_it(no_client: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="bash scripts/test"):
        claude.require_claude()


def test_missing_client_fails_under_ci(no_client: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the tests on the real client"):
        claude.require_claude()


def test_a_client_of_another_version_is_not_taken(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\necho '9.9.9 (Claude Code)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CCR_CLAUDE_BIN", str(fake))
    monkeypatch.delenv("CI", raising=False)
    claude.find_claude.cache_clear()
    try:
        with pytest.raises(pytest.skip.Exception, match=f"the tests pin {claude.VERSION}"):
            claude.require_claude()
    finally:
        claude.find_claude.cache_clear()
