"""Retry policies: bounded attempts, jittered bounded delays, and never a resend of a sent text."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from ccr.core.config import ExecutorSettings, LocalServer, ReliabilitySettings
from ccr.core.errors import RemoteError
from ccr.core.models import Session
from ccr.reliability.retry import (
    RetryPolicy,
    is_db_busy,
    never_reached,
    policies,
    retry_after_seconds,
)
from ccr.remote.executor import Executor


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def unreachable() -> RemoteError:
    return RemoteError("ssh_unreachable", sent=False, server="kr4", detail="Connection refused")


async def test_defaults_follow_the_requirements() -> None:
    p = policies(ReliabilitySettings())
    assert (p.ssh.attempts, p.ssh.base_s, p.ssh.max_s) == (5, 1.0, 16.0)
    assert (p.telegram.attempts, p.telegram.base_s, p.telegram.max_s) == (3, 0.5, 5.0)
    assert (p.database.attempts, p.database.base_s, p.database.total_s) == (10, 0.01, 5.0)
    assert [p.ssh.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 16, 16]


async def test_gives_up_after_the_attempts_with_bounded_jittered_waits() -> None:
    policy = RetryPolicy("ssh", 5, 1.0, 16.0)
    calls = 0
    lines: list[tuple[str, str]] = []

    async def fail() -> None:
        nonlocal calls
        calls += 1
        raise unreachable()

    sleeps = Sleeps()
    with pytest.raises(RemoteError) as info:
        await policy.call(fail, retry_if=never_reached, what="tmux on kr4",
                          sink=lambda level, text: lines.append((level, text)), sleep=sleeps)
    assert info.value.code == "ssh_unreachable" and calls == 5
    assert len(sleeps.waits) == 4
    for n, wait in enumerate(sleeps.waits, 1):
        assert 0 <= wait <= policy.ceiling(n)
    warnings = [t for lvl, t in lines if lvl == "warning"]
    assert [f"attempt {n} of 5 failed" in t for n, t in enumerate(warnings, 1)] == [True] * 4
    assert lines[-1][0] == "error" and "gave up after attempt 5 of 5" in lines[-1][1]


def test_full_jitter_spreads_over_the_whole_range() -> None:
    policy = RetryPolicy("ssh", 5, 1.0, 16.0)
    rng = random.Random(7)
    waits = [policy.delay(5, rng) for _ in range(2000)]
    assert min(waits) < 1.0 and max(waits) > 15.0 and max(waits) <= 16.0


async def test_a_sent_failure_is_never_retried() -> None:
    calls = 0

    async def uncertain() -> None:
        nonlocal calls
        calls += 1
        raise RemoteError("delivery_uncertain", sent=True, server="kr4", handle="kr4:1",
                          detail="connection lost")

    sleeps = Sleeps()
    with pytest.raises(RemoteError):
        await RetryPolicy("ssh", 5, 1.0, 16.0).call(uncertain, retry_if=never_reached,
                                                    what="x", sleep=sleeps)
    assert calls == 1 and sleeps.waits == []


@pytest.mark.parametrize(("code", "sent", "retried"), [
    ("ssh_unreachable", False, True),        # refused, connect timeout, channel open failed
    ("ssh_unreachable", True, False),
    ("delivery_uncertain", True, False),     # dropped after exec, timeout after send
    ("ssh_auth_failed", False, False),       # permanent until a person acts
    ("ssh_host_key_unknown", False, False),
    ("ssh_host_key_changed", False, False),
    ("pane_gone", False, False),
    ("tmux_failed", False, False),
    ("server_unavailable", False, False),    # the breaker said no: waiting would not help
])
def test_what_may_be_retried(code: str, sent: bool, retried: bool) -> None:
    assert never_reached(RemoteError(code, sent=sent, server="kr4")) is retried


async def test_success_after_failures_is_logged_with_its_attempt() -> None:
    outcomes: list[Exception | None] = [unreachable(), unreachable(), None]
    lines: list[str] = []

    async def flaky() -> str:
        exc = outcomes.pop(0)
        if exc is not None:
            raise exc
        return "ok"

    result = await RetryPolicy("ssh", 5, 0.01, 0.02).call(
        flaky, retry_if=never_reached, what="tmux on kr4", sink=lambda _l, t: lines.append(t))
    assert result == "ok" and "succeeded on attempt 3 of 5" in lines[-1]


async def test_retries_switched_off_means_one_attempt() -> None:
    p = policies(ReliabilitySettings(retries=False))
    assert p.ssh.attempts == p.telegram.attempts == p.database.attempts == 1
    calls = 0

    async def fail() -> None:
        nonlocal calls
        calls += 1
        raise unreachable()

    with pytest.raises(RemoteError):
        await p.ssh.call(fail, retry_if=never_reached, what="x")
    assert calls == 1


async def test_telegram_retry_after_is_honoured() -> None:
    class RetryAfter(Exception):
        retry_after = timedelta(seconds=7)

    sleeps = Sleeps()

    async def flood() -> None:
        raise RetryAfter()

    policy = policies(ReliabilitySettings()).telegram
    with pytest.raises(RetryAfter):
        await policy.call(flood, retry_if=lambda e: True, what="sendMessage",
                          hint=retry_after_seconds, sleep=sleeps)
    assert sleeps.waits == [7.0, 7.0]
    assert retry_after_seconds(type("E", (Exception,), {"retry_after": 3})()) == 3.0
    assert retry_after_seconds(ValueError()) is None


async def test_database_busy_is_retried_within_its_total() -> None:
    assert is_db_busy(sqlite3.OperationalError("database is locked"))
    assert not is_db_busy(sqlite3.OperationalError("no such table: x"))
    policy = policies(ReliabilitySettings()).database
    sleeps = Sleeps()
    calls = 0

    async def locked() -> None:
        nonlocal calls
        calls += 1
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError):
        await policy.call(locked, retry_if=is_db_busy, what="db", sleep=sleeps)
    assert calls == 10 and sum(sleeps.waits) <= 5.0
    assert all(w <= policy.ceiling(n) for n, w in enumerate(sleeps.waits, 1))


class FakeTransport:
    """Fails with the given errors, then succeeds; records every tmux call."""

    def __init__(self, errors: list[RemoteError]) -> None:
        self.server_id = "laptop"
        self.errors = errors
        self.calls: list[list[str]] = []

    async def tmux(self, args: list[str], *, stdin: bytes | None = None) -> str:
        self.calls.append(args)
        if self.errors:
            raise self.errors.pop(0)
        return ""

    async def close(self) -> None:
        return None


def session() -> Session:
    return Session(id=1, server_id="laptop", number=1, token="t", pane_id="%1",
                   tmux_socket=None, tmux_session=None, claude_session_id=None, project=None,
                   last_event=None, last_prompt=None, last_reply=None, created_at=0,
                   updated_at=0, expires_at=1e12)


def executor(transport: Any, attempts: int = 5) -> Executor:
    ex = Executor([LocalServer(id="laptop", kind="local")],
                  ExecutorSettings(settle_ms=0, enter_check_ms=0),
                  retry=RetryPolicy("ssh", attempts, 0.001, 0.002))
    ex._transports["laptop"] = transport
    return ex


async def test_executor_retries_a_typing_call_that_never_reached_tmux() -> None:
    t = FakeTransport([unreachable(), unreachable()])
    await executor(t).send_text(session(), "hello")
    typed = [c for c in t.calls if "-H" in c]
    assert len(typed) == 3 and t.calls[-1][-1] == "Enter"


async def test_executor_never_retypes_after_a_possible_send() -> None:
    t = FakeTransport([RemoteError("delivery_uncertain", sent=True, server="laptop",
                                   handle="?", detail="connection lost")])
    with pytest.raises(RemoteError) as info:
        await executor(t).send_text(session(), "hello")
    assert info.value.sent is True and info.value.code == "delivery_uncertain"
    assert len(t.calls) == 1, "typed once, never again"
