"""Each redaction choke point on its own: hub log lines, Python logging records, span
attributes, dead-letter and alert views (the end-to-end run is tests/e2e/test_redaction.py)."""

from __future__ import annotations

import logging

import pytest

from ccr.core import redact
from ccr.core.events import HubLog
from ccr.core.redact import MASK
from ccr.telemetry import logsink, spans
from tests.fixtures.hub import API_TOKEN, SECRET
from tests.fixtures.secrets import BOT_TOKEN, SECRET_TEXT, assert_masked


@pytest.fixture(autouse=True)
def hub_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's configured secrets, as `Hub.__init__` registers them."""
    monkeypatch.setattr(redact, "_configured", (SECRET, API_TOKEN, BOT_TOKEN))


def test_hub_log_lines_are_redacted() -> None:
    line = logsink.describe(HubLog("error", f"delivery worker: {SECRET_TEXT!r}"))
    assert line is not None and line[0] == "error"
    assert_masked(line[1], "a hub log line")


def test_python_logging_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    before = logging.getLogRecordFactory()
    logsink.redact_python_logging()
    try:
        log = logging.getLogger("ccr.test")
        with caplog.at_level(logging.INFO, logger="ccr.test"):
            log.warning("POST %s failed: %s", "https://api.telegram.org/bot123456:TEST-"
                        "standin-token/getUpdates", SECRET_TEXT)
            try:
                raise RuntimeError(SECRET_TEXT)
            except RuntimeError:
                log.exception("boom")
        text = "\n".join(caplog.messages) + "\n".join(r.exc_text or "" for r in caplog.records)
        assert_masked(text, "logging records")
        assert "Traceback" in text
    finally:
        logging.setLogRecordFactory(before)


def test_span_attributes_are_redacted_before_storage() -> None:
    kept = spans.scrub({"ccr.target": "postgres://ana:Tr0ub4dor3x@db:5432/x",
                        "ccr.handle": "laptop:1", "ccr.count": 3, "ccr.prompt": "dropped"})
    assert kept == {"ccr.target": f"postgres://ana:{MASK}@db:5432/x",
                    "ccr.handle": "laptop:1", "ccr.count": 3}
