"""Health at a glance: GREEN, YELLOW or RED per server and for the hub as a whole.

A pure function of the breakers' states, the server probes' states and the SSH error rates
(REQUIREMENTS.md section 3):

- a server is *unavailable* when its breaker is not closed or its last probe failed;
- a server is RED when unavailable or its error rate is above 30 %, YELLOW when its error
  rate is 5 % or more, else GREEN;
- the hub is RED when more than half of its servers (or more than 3) are unavailable or the
  overall error rate is above 30 %; YELLOW when 1-3 servers are unavailable, the overall
  error rate is 5 % or more, or any server is not GREEN; GREEN when every breaker is closed,
  no probe failed and the error rate is under 5 %.

An error rate is None where too few calls were made to judge it (the caller decides how few).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_YELLOW_UNAVAILABLE = 3


class Level(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


ICONS = {Level.GREEN: "🟢", Level.YELLOW: "🟡", Level.RED: "🔴"}
_ORDER = {Level.GREEN: 0, Level.YELLOW: 1, Level.RED: 2}


def worst(*levels: Level) -> Level:
    return max(levels, key=_ORDER.__getitem__, default=Level.GREEN)


@dataclass(frozen=True)
class ServerHealth:
    server: str
    level: Level
    available: bool
    breaker: str
    probe: str
    error_rate: float | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "level": self.level.value, "available": self.available,
                "breaker": self.breaker, "probe": self.probe, "error_rate": self.error_rate,
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Health:
    level: Level
    servers: tuple[ServerHealth, ...]
    unavailable: tuple[str, ...]
    error_rate: float | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level.value, "error_rate": self.error_rate,
                "unavailable": list(self.unavailable), "reasons": list(self.reasons),
                "servers": [s.to_dict() for s in self.servers]}


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _by_error_rate(level: Level, error_rate: float | None, yellow: float, red: float,
                   reasons: list[str]) -> Level:
    """The level after the error rate has its say (RED above `red`, at least YELLOW from
    `yellow`), the reason appended; a server's and the hub's rule alike."""
    if error_rate is not None and error_rate > red:
        reasons.append(f"error rate {_pct(error_rate)} > {_pct(red)}")
        return Level.RED
    if error_rate is not None and error_rate >= yellow:
        reasons.append(f"error rate {_pct(error_rate)} ≥ {_pct(yellow)}")
        return worst(level, Level.YELLOW)
    return level


def server_health(server: str, *, breaker: str = "closed", probe: str = "unknown",
                  error_rate: float | None = None, yellow: float = 0.05,
                  red: float = 0.30) -> ServerHealth:
    """One server's level from its breaker, its last probe and its error rate."""
    reasons: list[str] = []
    if breaker != "closed":
        reasons.append(f"breaker {breaker.replace('_', '-')}")
    if probe == "down":
        reasons.append("last check failed")
    available = not reasons
    level = Level.GREEN if available else Level.RED
    level = _by_error_rate(level, error_rate, yellow, red, reasons)
    return ServerHealth(server, level, available, breaker, probe, error_rate, tuple(reasons))


def assess(servers: Sequence[str], *, breakers: Mapping[str, str] | None = None,
           probes: Mapping[str, str] | None = None,
           error_rates: Mapping[str, float | None] | None = None,
           error_rate: float | None = None, yellow: float = 0.05,
           red: float = 0.30) -> Health:
    """The hub's health and each server's (see the module docstring for the rules)."""
    breakers, probes, error_rates = breakers or {}, probes or {}, error_rates or {}
    per = tuple(server_health(sid, breaker=breakers.get(sid, "closed"),
                              probe=probes.get(sid, "unknown"),
                              error_rate=error_rates.get(sid), yellow=yellow, red=red)
                for sid in servers)
    down = tuple(s.server for s in per if not s.available)
    total = len(per)
    reasons: list[str] = []
    level = Level.GREEN
    if down:
        reasons.append(f"{len(down)} of {total} server(s) unavailable: {', '.join(down)}")
        if len(down) * 2 > total or len(down) > MAX_YELLOW_UNAVAILABLE:
            level = Level.RED
        else:
            level = Level.YELLOW
    level = _by_error_rate(level, error_rate, yellow, red, reasons)
    troubled = [s.server for s in per if s.available and s.level is not Level.GREEN]
    if troubled:
        level = worst(level, Level.YELLOW)
        reasons.append(f"errors on {', '.join(troubled)}")
    return Health(level, per, down, error_rate, tuple(reasons))
