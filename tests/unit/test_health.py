"""Health levels at their boundaries: GREEN, YELLOW, RED per server and overall."""

from __future__ import annotations

import pytest

from ccr.telemetry.health import Level, assess, server_health

SERVERS = [f"s{i}" for i in range(10)]


def down(n: int, how: str = "breaker") -> dict[str, dict[str, str]]:
    states = {"breakers": {}, "probes": {}}  # type: dict[str, dict[str, str]]
    for sid in SERVERS[:n]:
        if how == "breaker":
            states["breakers"][sid] = "open"
        else:
            states["probes"][sid] = "down"
    return states


def test_all_closed_and_quiet_is_green() -> None:
    h = assess(SERVERS, breakers=dict.fromkeys(SERVERS, "closed"),
               probes=dict.fromkeys(SERVERS, "up"), error_rate=0.0499)
    assert h.level is Level.GREEN and h.unavailable == () and h.reasons == ()
    assert all(s.level is Level.GREEN for s in h.servers)
    assert assess([]).level is Level.GREEN
    assert assess(SERVERS, probes=dict.fromkeys(SERVERS, "unknown")).level is Level.GREEN, \
        "not checked yet is not unavailable"


@pytest.mark.parametrize(("n", "level"), [(1, Level.YELLOW), (3, Level.YELLOW),
                                          (4, Level.RED), (5, Level.RED), (6, Level.RED)])
def test_unavailable_servers_out_of_ten(n: int, level: Level) -> None:
    assert assess(SERVERS, **down(n)).level is level
    assert assess(SERVERS, **down(n, how="probe")).level is level, "a failed check counts too"


@pytest.mark.parametrize(("total", "n", "level"), [
    (2, 1, Level.YELLOW),   # exactly half: not more than half
    (3, 2, Level.RED),      # 67 %
    (1, 1, Level.RED),      # the only server
    (4, 2, Level.YELLOW),
    (5, 3, Level.RED),
])
def test_more_than_half_unavailable_is_red(total: int, n: int, level: Level) -> None:
    servers = SERVERS[:total]
    assert assess(servers, breakers=dict.fromkeys(servers[:n], "open")).level is level


def test_half_open_breaker_counts_as_unavailable() -> None:
    h = assess(SERVERS, breakers={"s0": "half_open"})
    assert h.level is Level.YELLOW and h.unavailable == ("s0",)
    assert h.servers[0].level is Level.RED and "breaker half-open" in h.servers[0].reasons


@pytest.mark.parametrize(("rate", "level"), [
    (None, Level.GREEN), (0.0, Level.GREEN), (0.0499, Level.GREEN), (0.05, Level.YELLOW),
    (0.30, Level.YELLOW), (0.3001, Level.RED), (1.0, Level.RED)])
def test_overall_error_rate_boundaries(rate: float | None, level: Level) -> None:
    assert assess(SERVERS, error_rate=rate).level is level


@pytest.mark.parametrize(("rate", "level"), [
    (None, Level.GREEN), (0.049, Level.GREEN), (0.05, Level.YELLOW), (0.30, Level.YELLOW),
    (0.31, Level.RED)])
def test_server_error_rate_boundaries(rate: float | None, level: Level) -> None:
    s = server_health("s0", breaker="closed", probe="up", error_rate=rate)
    assert s.level is level and s.available
    overall = assess(["s0", "s1"], error_rates={"s0": rate})
    assert overall.level is (Level.GREEN if level is Level.GREEN else Level.YELLOW), \
        "one server's errors make the hub YELLOW, never RED by themselves"


def test_error_rate_and_unavailability_combine_to_the_worst() -> None:
    assert assess(SERVERS, error_rate=0.5, **down(1)).level is Level.RED
    h = assess(SERVERS, error_rate=0.1, **down(2))
    assert h.level is Level.YELLOW and len(h.reasons) == 2


def test_thresholds_are_configurable() -> None:
    assert assess(SERVERS, error_rate=0.1, yellow=0.2, red=0.5).level is Level.GREEN
    assert assess(SERVERS, error_rate=0.21, yellow=0.2, red=0.5).level is Level.YELLOW


def test_to_dict_is_plain() -> None:
    d = assess(SERVERS[:2], breakers={"s1": "open"}, error_rates={"s0": 0.01}).to_dict()
    assert d["level"] == "yellow" and d["unavailable"] == ["s1"]
    assert d["servers"][1] == {"server": "s1", "level": "red", "available": False,
                               "breaker": "open", "probe": "unknown", "error_rate": None,
                               "reasons": ["breaker open"]}
