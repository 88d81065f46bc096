"""Bounded retry policies per operation kind (SSH, Telegram, database), built on tenacity.

Every policy has a fixed number of attempts, exponential backoff with full jitter and a cap,
and logs each failed attempt with its number. What may be retried is decided by the caller's
predicate: for SSH only failures that provably never reached tmux (`never_reached`), so a
command is never typed twice.
"""

from __future__ import annotations

import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import tenacity

from ccr.core.config import ReliabilitySettings
from ccr.core.errors import RemoteError

T = TypeVar("T")
LogSink = Callable[[str, str], None]
"""(level, text): where attempt lines go, e.g. the hub's HubLog publisher."""

log = logging.getLogger("ccr.retry")

RETRYABLE_REMOTE_CODES = frozenset({"ssh_unreachable"})
"""Transient failures before anything ran: connect refused or timed out, channel open failed.
Auth and host-key failures are permanent until a person acts, so they are not retried."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one kind of operation is tried."""

    kind: str
    attempts: int
    base_s: float
    max_s: float
    total_s: float | None = None

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the (jittered) wait after failed attempt number `attempt`."""
        return float(min(self.max_s, self.base_s * 2 ** (attempt - 1)))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform between 0 and the ceiling."""
        return (rng or random).uniform(0.0, self.ceiling(attempt))

    async def call(self, fn: Callable[[], Awaitable[T]], *,
                   retry_if: Callable[[BaseException], bool], what: str,
                   sink: LogSink | None = None,
                   hint: Callable[[BaseException], float | None] | None = None,
                   sleep: Callable[[float], Awaitable[None]] | None = None) -> T:
        """Run `fn` until it succeeds, a failure is not retryable, or the policy is spent.

        The last failure is re-raised unchanged. `hint` may name a minimum wait for a
        failure (Telegram's retry_after).
        """
        kwargs: dict[str, object] = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(self.attempts)
        if self.total_s is not None:
            stop = stop | tenacity.stop_after_delay(self.total_s)
        retrying = tenacity.AsyncRetrying(
            stop=stop, wait=_JitterWait(self, hint), retry=tenacity.retry_if_exception(retry_if),
            before_sleep=_announce(self, what, sink), reraise=True, **kwargs,  # type: ignore[arg-type]
        )
        attempt_no = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_no = attempt.retry_state.attempt_number
                    result = await fn()
        except BaseException as exc:
            if attempt_no > 1 or (retry_if(exc) and self.attempts > 1):
                _emit(sink, "error", f"{what}: gave up after attempt {attempt_no} of "
                                     f"{self.attempts}: {_short(exc)}")
            raise
        if attempt_no > 1:
            _emit(sink, "info", f"{what}: succeeded on attempt {attempt_no} of {self.attempts}")
        return result


class _JitterWait(tenacity.wait.wait_base):
    """Full-jitter exponential backoff, never shorter than the failure's own hint."""

    def __init__(self, policy: RetryPolicy,
                 hint: Callable[[BaseException], float | None] | None) -> None:
        self.policy = policy
        self.hint = hint

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        wait = self.policy.delay(retry_state.attempt_number)
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if self.hint is not None and exc is not None:
            hinted = self.hint(exc)
            if hinted is not None:
                wait = max(wait, hinted)
        return wait


def _short(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    text = str(exc) or type(exc).__name__
    return f"{code}: {text}" if isinstance(code, str) else f"{type(exc).__name__}: {text}"


def _emit(sink: LogSink | None, level: str, text: str) -> None:
    log.log(logging.ERROR if level == "error" else logging.WARNING if level == "warning"
            else logging.INFO, text)
    if sink is not None:
        sink(level, text)


def _announce(policy: RetryPolicy, what: str,
              sink: LogSink | None) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        _emit(sink, "warning", f"{what}: attempt {state.attempt_number} of {policy.attempts} "
                               f"failed ({_short(exc) if exc else '?'}); "
                               f"retrying in {wait:.2f} s")
    return before_sleep


# --- the policies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Policies:
    """One policy per operation kind, from `[reliability]`."""

    ssh: RetryPolicy
    telegram: RetryPolicy
    database: RetryPolicy


def policies(settings: ReliabilitySettings) -> Policies:
    """The configured policies; with `retries = false` each kind is tried exactly once."""
    once = not settings.retries
    return Policies(
        ssh=RetryPolicy("ssh", 1 if once else settings.ssh_attempts, settings.ssh_base_s,
                        settings.ssh_max_s),
        telegram=RetryPolicy("telegram", 1 if once else settings.telegram_attempts,
                             settings.telegram_base_s, settings.telegram_max_s),
        database=RetryPolicy("database", 1 if once else settings.db_attempts,
                             settings.db_base_s, settings.db_total_s, settings.db_total_s),
    )


def ssh_policy(settings: ReliabilitySettings) -> RetryPolicy:
    return policies(settings).ssh


def telegram_policy(settings: ReliabilitySettings) -> RetryPolicy:
    """For the delivery worker: 3 attempts, 0.5 s to 5 s; pass `hint=retry_after_seconds`."""
    return policies(settings).telegram


def database_policy(settings: ReliabilitySettings) -> RetryPolicy:
    return policies(settings).database


# --- what may be retried ----------------------------------------------------------------------


def never_reached(exc: BaseException) -> bool:
    """True only for transient failures that provably never reached tmux (`sent=False`)."""
    return (isinstance(exc, RemoteError) and not exc.sent
            and exc.code in RETRYABLE_REMOTE_CODES)


def is_db_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked" / "database is busy" from another connection."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


def retry_after_seconds(exc: BaseException) -> float | None:
    """Telegram's flood-control wait (python-telegram-bot's RetryAfter), if the error has one."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
