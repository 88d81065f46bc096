"""Every error code reads as plain language with recovery steps."""

from __future__ import annotations

import pytest

from ccr.core.errors import CATALOG, CcrError, RemoteError


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_code_has_a_message_and_steps(code: str) -> None:
    exc = CcrError(code)
    assert exc.message and exc.steps
    assert "{" not in exc.explain(), "unfilled placeholders must not leak braces"
    assert exc.explain().splitlines()[1].startswith("1. ")


def test_context_fills_the_text() -> None:
    exc = RemoteError("pane_gone", handle="kr4:2", server="kr4")
    assert "kr4:2" in exc.message and "kr4" in exc.steps[0]
    assert exc.sent is False


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        CcrError("no_such_code")
