"""The breaker's state machine, with an injected clock, and the board that announces it."""

from __future__ import annotations

import pytest

from ccr.core.errors import RemoteError
from ccr.reliability.board import BreakerBoard, probe_due
from ccr.reliability.breaker import Breaker, BreakerPolicy, BreakerRecord, BreakerState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def opened(clock: Clock, policy: BreakerPolicy | None = None) -> Breaker:
    b = Breaker("kr4", policy or BreakerPolicy(), clock)
    for _ in range(b.policy.failures):
        b.failure("refused")
    return b


def test_opens_after_five_consecutive_failures(clock: Clock) -> None:
    b = Breaker("kr4", BreakerPolicy(), clock)
    for n in range(4):
        assert b.failure("refused") is None, f"failure {n + 1} must not open it"
        assert b.admit()[0]
    previous, record = b.failure("refused") or (None, None)
    assert previous is BreakerState.CLOSED and record is not None
    assert record.state is BreakerState.OPEN and record.next_probe_at == 1030.0
    assert b.admit() == (False, None)


def test_a_success_resets_the_count(clock: Clock) -> None:
    b = Breaker("kr4", BreakerPolicy(), clock)
    for _ in range(4):
        b.failure("x")
    b.success()
    for _ in range(4):
        b.failure("x")
    assert b.state is BreakerState.CLOSED


def test_half_open_after_30_s_lets_one_probe_through(clock: Clock) -> None:
    b = opened(clock)
    clock.now += 29.9
    assert b.admit()[0] is False
    clock.now += 0.1
    allowed, transition = b.admit()
    assert allowed and transition is not None and transition[1].state is BreakerState.HALF_OPEN
    assert b.admit()[0] is False, "only one probe at a time"
    assert b.success() is None and b.state is BreakerState.HALF_OPEN
    assert b.admit()[0] is True
    previous, record = b.success() or (None, None)
    assert previous is BreakerState.HALF_OPEN and record is not None
    assert record.state is BreakerState.CLOSED and record.failures == 0
    assert b.admit() == (True, None)


def test_a_failed_probe_reopens_for_another_30_s(clock: Clock) -> None:
    b = opened(clock)
    clock.now += 30
    assert b.admit()[0]
    b.success()
    assert b.admit()[0]
    transition = b.failure("still down")
    assert transition is not None and transition[1].state is BreakerState.OPEN
    assert b.retry_at() == clock.now + 30
    assert b.admit()[0] is False


def test_released_probe_frees_the_slot(clock: Clock) -> None:
    b = opened(clock)
    clock.now += 30
    assert b.admit()[0] and not b.admit()[0]
    b.release()
    assert b.admit()[0]


def test_thresholds_are_configurable(clock: Clock) -> None:
    b = opened(clock, BreakerPolicy(failures=2, open_s=1.0, successes=1))
    assert b.record.failures == 2 and b.state is BreakerState.OPEN
    clock.now += 1.0
    assert b.admit()[0]
    b.success()
    assert b.state is BreakerState.CLOSED


async def test_board_refuses_fast_announces_and_persists(clock: Clock) -> None:
    saved: list[BreakerRecord] = []
    seen: list[tuple[str, str, str]] = []

    async def persist(record: BreakerRecord) -> None:
        saved.append(record)

    board = BreakerBoard(BreakerPolicy(), clock, persist=persist,
                         announce=lambda sid, prev, rec: seen.append((sid, prev, rec.state)))
    for _ in range(5):
        await board.admit("kr4")
        await board.failure("kr4", "Cannot reach kr4 over SSH")
    assert seen == [("kr4", "closed", "open")] and saved[-1].state is BreakerState.OPEN
    with pytest.raises(RemoteError) as info:  # how fast: bench/one_down.py
        await board.admit("kr4")
    err = info.value
    assert err.code == "server_unavailable" and err.sent is False
    assert "kr4 is temporarily unavailable" in err.message and "in 30 s" in err.message
    assert err.explain().splitlines()[1].startswith("1. Nothing was typed")
    await board.admit("other")  # other servers are not affected


async def test_board_restores_an_open_breaker(clock: Clock) -> None:
    record = BreakerRecord("kr4", BreakerState.OPEN, failures=5, opened_at=clock.now,
                           next_probe_at=clock.now + 12, last_error="x", updated_at=clock.now)
    board = BreakerBoard(BreakerPolicy(), clock)
    board.load([record])
    with pytest.raises(RemoteError, match="in 12 s"):
        await board.admit("kr4")
    assert probe_due(board, "kr4", clock.now, clock.now + 60) == clock.now + 12
    clock.now += 12
    await board.admit("kr4")
    assert board.get("kr4").state is BreakerState.HALF_OPEN
    assert probe_due(board, "kr4", clock.now, clock.now + 60) == pytest.approx(clock.now + 3)
