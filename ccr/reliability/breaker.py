"""Circuit breaker per server: stop hammering a server that keeps failing, and say so.

closed --(N consecutive failures)--> open --(after open_s)--> half-open (one probe at a time)
half-open --(M successes)--> closed;  half-open --(a failure)--> open again.

`Breaker` is the pure state machine with an injected clock; `ccr.reliability.board` keeps
one per server, announces every transition and persists it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from ccr.core.config import ReliabilitySettings
from ccr.core.errors import RemoteError


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """Thresholds, from `[reliability]`."""

    failures: int = 5
    open_s: float = 30.0
    successes: int = 2

    @classmethod
    def from_settings(cls, settings: ReliabilitySettings) -> BreakerPolicy:
        return cls(settings.breaker_failures, settings.breaker_open_s, settings.breaker_successes)


@dataclass(frozen=True)
class BreakerRecord:
    """A breaker's persisted state (one row of the `breakers` table)."""

    server_id: str
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    successes: int = 0
    opened_at: float | None = None
    next_probe_at: float | None = None
    last_error: str | None = None
    updated_at: float = 0.0


Transition = tuple[BreakerState, BreakerRecord]
"""(previous state, new record) when a call changed the state, else None."""


class Breaker:
    """The state machine of one server's breaker. Not thread-safe; one event loop."""

    def __init__(self, server_id: str, policy: BreakerPolicy, clock: Callable[[], float],
                 record: BreakerRecord | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self.record = record or BreakerRecord(server_id)
        self._probing = False

    @property
    def state(self) -> BreakerState:
        return self.record.state

    @property
    def server_id(self) -> str:
        return self.record.server_id

    def retry_at(self) -> float | None:
        """When an open breaker lets the next probe through."""
        return self.record.next_probe_at if self.state is not BreakerState.CLOSED else None

    def admit(self) -> tuple[bool, Transition | None]:
        """May an operation go to the server now? Open -> half-open once its time has come.

        In half-open only one operation (the probe) is in flight at a time.
        """
        transition = None
        if self.state is BreakerState.OPEN:
            due = self.record.next_probe_at or 0.0
            if self.clock() < due:
                return False, None
            transition = self._move(BreakerState.HALF_OPEN, successes=0)
        if self.state is BreakerState.HALF_OPEN:
            if self._probing:
                return False, transition
            self._probing = True
        return True, transition

    def release(self) -> None:
        """An admitted operation ended without a verdict on the server (e.g. a bad pane)."""
        self._probing = False

    def success(self) -> Transition | None:
        self._probing = False
        if self.state is BreakerState.HALF_OPEN:
            successes = self.record.successes + 1
            if successes >= self.policy.successes:
                return self._move(BreakerState.CLOSED, failures=0, successes=0,
                                  opened_at=None, next_probe_at=None)
            self.record = replace(self.record, successes=successes, updated_at=self.clock())
            return None
        if self.state is BreakerState.CLOSED and self.record.failures:
            self.record = replace(self.record, failures=0, updated_at=self.clock())
        return None

    def failure(self, reason: str) -> Transition | None:
        self._probing = False
        now = self.clock()
        failures = self.record.failures + 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and failures >= self.policy.failures
        ):
            return self._move(BreakerState.OPEN, failures=failures, successes=0, opened_at=now,
                              next_probe_at=now + self.policy.open_s, last_error=reason)
        self.record = replace(self.record, failures=failures, last_error=reason, updated_at=now)
        return None

    def _move(self, state: BreakerState, **changes: object) -> Transition:
        previous = self.state
        self.record = replace(self.record, state=state, updated_at=self.clock(),
                              **changes)  # type: ignore[arg-type]
        return previous, self.record


def refusal(breaker: Breaker, now: float) -> RemoteError:
    """The friendly error for an operation refused by an open breaker (nothing was sent)."""
    retry_at = breaker.retry_at()
    if retry_at is None or retry_at <= now:
        when = "in a moment"
    else:
        seconds = int(retry_at - now + 0.999)
        when = f"in {seconds} s" if seconds < 120 else f"in about {round(seconds / 60)} min"
    return RemoteError("server_unavailable", sent=False, server=breaker.server_id,
                       failures=breaker.record.failures, retry_in=when,
                       detail=breaker.record.last_error or "")
