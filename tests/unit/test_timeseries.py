"""The rolling time series: the window rolls, memory stays bounded, p95 is close to exact."""

from __future__ import annotations

import itertools
import random

import pytest

from ccr.telemetry.timeseries import TimeSeries, quantile


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def series(servers: tuple[str, ...] = ("kr4", "laptop")) -> tuple[TimeSeries, Clock]:
    clock = Clock()
    return TimeSeries(servers, clock=clock), clock


def test_counts_become_rates_per_10_s_bucket_oldest_first() -> None:
    ts, clock = series()
    for _ in range(20):
        ts.count("commands", "kr4")
    clock.now += 10
    ts.count("commands", "kr4", 5)
    points = ts.series("commands", "kr4", minutes=1)
    assert len(points) == 6
    assert [v for _, v in points[-2:]] == [2.0, 0.5]
    assert points[-1][0] == (clock.now // 10) * 10, "a point is its bucket's start"
    assert all(b - a == 10 for (a, _), (b, _) in itertools.pairwise(points))
    assert ts.window("commands", "kr4", minutes=5) == 25


def test_the_window_rolls_old_buckets_are_forgotten_not_kept() -> None:
    ts, clock = series()
    ts.count("ssh_calls", "kr4", 7)
    ts.gauge("dlq_size", value=3)
    clock.now += 59 * 60
    assert ts.window("ssh_calls", "kr4", minutes=60) == 7
    assert ts.window("ssh_calls", "kr4", minutes=5) == 0
    clock.now += 2 * 60  # the first bucket is now older than the 60-minute window
    assert ts.window("ssh_calls", "kr4", minutes=60) == 0
    assert ts.window("dlq_size", minutes=60) is None
    ts.count("ssh_calls", "kr4")  # reuses the ring slot of a bucket an hour old
    assert ts.window("ssh_calls", "kr4", minutes=60) == 1


def test_memory_is_bounded_by_servers_and_window_not_by_traffic() -> None:
    ts, clock = series(tuple(f"s{i}" for i in range(20)))
    rng = random.Random(1)

    def fill(minutes: int) -> None:
        for _ in range(minutes * 6):
            clock.now += 10
            for i in range(20):
                ts.count("ssh_calls", f"s{i}", 3)
                ts.observe("ssh_seconds", f"s{i}", rng.random())
            ts.gauge("dlq_size", value=1)

    fill(60)
    after_an_hour = ts.memory_bytes()
    fill(180)
    assert ts.memory_bytes() == after_an_hour
    assert after_an_hour < 5 * 1024 * 1024
    ts.count("ssh_calls", "not-configured", 1)
    ts.observe("ssh_seconds", "user-input;rm -rf", 1.0)
    assert ts.memory_bytes() == after_an_hour, "unknown servers never make new series"
    assert ts.window("ssh_calls", "not-configured") == 0


def test_p95_of_a_window_is_within_the_bin_resolution() -> None:
    ts, clock = series()
    rng = random.Random(7)
    samples = []
    for _ in range(30):  # five minutes of buckets
        clock.now += 10
        for _ in range(50):
            s = rng.lognormvariate(-3, 1)
            samples.append(s)
            ts.observe("ssh_seconds", "kr4", s)
    exact = sorted(samples)[int(0.95 * len(samples)) - 1]
    got = ts.window("ssh_p95", "kr4", minutes=5)
    assert got is not None
    assert exact <= got <= exact * 1.21, (exact, got)


def test_p95_never_exceeds_the_largest_observation() -> None:
    ts, _ = series()
    ts.observe("ssh_seconds", "kr4", 0.0123)
    assert ts.window("ssh_p95", "kr4") == pytest.approx(0.0123)
    assert quantile([0] * 10, 0.0, 0.95) is None


def test_error_rate_is_errors_over_calls_across_the_whole_window() -> None:
    ts, clock = series()
    ts.count("ssh_calls", "kr4", 90)
    clock.now += 10
    ts.count("ssh_calls", "kr4", 10)
    ts.count("ssh_errors", "kr4", 10)
    assert ts.window("error_rate", "kr4", minutes=5) == pytest.approx(0.10)
    assert ts.window("error_rate", "laptop", minutes=5) is None, "no calls: no rate"
    assert ts.series("error_rate", "kr4", minutes=1)[-1][1] == pytest.approx(1.0)


def test_all_servers_together_and_the_snapshot_shape() -> None:
    ts, _ = series()
    ts.count("commands", "kr4", 3)
    ts.count("commands", "laptop", 1)
    ts.count("ssh_calls", "kr4", 4)
    ts.count("ssh_errors", "laptop", 1)
    ts.count("ssh_calls", "laptop", 1)
    ts.observe("ssh_seconds", "kr4", 0.2)
    ts.gauge("sessions_live", "kr4", 2)
    ts.gauge("sessions_live", "laptop", 1)
    ts.gauge("dlq_size", value=4)
    ts.count("telegram_sends", n=6)
    assert ts.window("commands", minutes=5) == 4
    assert ts.window("error_rate", minutes=5) == pytest.approx(0.2)
    snap = ts.snapshot()
    assert set(snap) == {"at", "resolution_s", "window_s", "servers", "overall", "telegram",
                         "dlq_size"}
    assert snap["servers"]["kr4"]["commands_60m"] == 3
    assert snap["servers"]["kr4"]["ssh_p95_5m_s"] == pytest.approx(0.2)
    assert snap["servers"]["laptop"]["error_rate_5m"] == 1.0
    assert snap["overall"]["sessions_live"] == 3
    assert snap["telegram"]["sent_5m"] == 6 and snap["dlq_size"] == 4
    with pytest.raises(KeyError):
        ts.series("no_such_series")
