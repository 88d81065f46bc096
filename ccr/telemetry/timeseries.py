"""Rolling in-memory time series: the last 60 minutes at 10 s resolution, bounded memory.

Every series is a ring of fixed size (window / resolution slots); a slot remembers which
10 s bucket it holds, so a stale slot reads as empty and is reset on its next write. Nothing
grows with traffic: counts are one float per slot, latencies one small histogram per slot
(log-spaced bins, allocated on the first observation in that slot), so p95 over any window
is a merge of fixed-size arrays. Server ids are the configured ones; anything else is
dropped, so a series' key set is bounded too.

Series names (per server unless marked global):

- counters (`count`): `commands`, `command_errors`, `ssh_calls`, `ssh_errors`,
  `telegram_sends`, `telegram_failures` (global)
- gauges (`gauge`, last value in the bucket): `sessions_live`, `dlq_size` (global)
- latencies (`observe`, seconds): `ssh_seconds`, `telegram_seconds` (global)
- derived (read only): `error_rate` (= ssh_errors / ssh_calls), `ssh_p95` (seconds),
  `telegram_p95` (global)
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable, Iterable
from typing import Any

RESOLUTION_S = 10
WINDOW_S = 3600
GLOBAL = ""
"""The server key of global series."""

COUNTERS = frozenset({"commands", "command_errors", "ssh_calls", "ssh_errors",
                      "telegram_sends", "telegram_failures"})
GAUGES = frozenset({"sessions_live", "dlq_size"})
LATENCIES = frozenset({"ssh_seconds", "telegram_seconds"})
DERIVED = frozenset({"error_rate", "ssh_p95", "telegram_p95"})
NAMES = COUNTERS | GAUGES | LATENCIES | DERIVED

# Latency bins: 1 ms to ~120 s, each edge 1.2 x the previous (p95 within 20 %); one bin
# under 1 ms and one over the top edge.
_LOW_S = 0.001
_RATIO = 1.2
_BINS = math.ceil(math.log(120 / _LOW_S, _RATIO)) + 2
_LOG_RATIO = math.log(_RATIO)
EDGES = tuple(_LOW_S * _RATIO ** i for i in range(_BINS - 1))
"""Upper edge of bin i (the last bin has none)."""


def _bin(seconds: float) -> int:
    if seconds <= _LOW_S:
        return 0
    return min(_BINS - 1, int(math.log(seconds / _LOW_S) / _LOG_RATIO) + 1)


class Ring:
    """One number per bucket (a sum, or a gauge's last value), `size` buckets."""

    __slots__ = ("buckets", "size", "values")

    def __init__(self, size: int) -> None:
        self.size = size
        self.buckets = array("q", [-1]) * size
        self.values = array("d", [0.0]) * size

    def add(self, bucket: int, value: float) -> None:
        slot = bucket % self.size
        if self.buckets[slot] != bucket:
            self.buckets[slot] = bucket
            self.values[slot] = 0.0
        self.values[slot] += value

    def set(self, bucket: int, value: float) -> None:
        slot = bucket % self.size
        self.buckets[slot] = bucket
        self.values[slot] = value

    def get(self, bucket: int) -> float | None:
        slot = bucket % self.size
        return self.values[slot] if self.buckets[slot] == bucket else None


class LatencyRing:
    """A histogram of observations per bucket, plus each bucket's count and maximum."""

    __slots__ = ("buckets", "hists", "maxima", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.buckets = array("q", [-1]) * size
        self.maxima = array("d", [0.0]) * size
        self.hists: list[array[int] | None] = [None] * size

    def observe(self, bucket: int, seconds: float) -> None:
        slot = bucket % self.size
        hist = self.hists[slot]
        if self.buckets[slot] != bucket or hist is None:
            self.buckets[slot] = bucket
            self.maxima[slot] = 0.0
            hist = self.hists[slot] = array("I", [0]) * _BINS
        hist[_bin(seconds)] += 1
        if seconds > self.maxima[slot]:
            self.maxima[slot] = seconds

    def merged(self, buckets: Iterable[int]) -> tuple[list[int], float, int]:
        """(bin counts, maximum, count) over these buckets."""
        total = [0] * _BINS
        top = 0.0
        n = 0
        for bucket in buckets:
            slot = bucket % self.size
            hist = self.hists[slot]
            if hist is None or self.buckets[slot] != bucket:
                continue
            total = [a + b for a, b in zip(total, hist, strict=True)]
            top = max(top, self.maxima[slot])
            n += 1
        return total, top, sum(total)

    def count(self, bucket: int) -> int:
        slot = bucket % self.size
        hist = self.hists[slot]
        return sum(hist) if hist is not None and self.buckets[slot] == bucket else 0


def quantile(hist: list[int], top: float, q: float) -> float | None:
    """The q-quantile of a binned histogram: the bin's upper edge, never above the maximum."""
    total = sum(hist)
    if total == 0:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for i, n in enumerate(hist):
        seen += n
        if seen >= rank:
            edge = EDGES[i] if i < len(EDGES) else top
            return min(edge, top)
    return top


class TimeSeries:
    """Per-server and global series over a rolling window; see the module docstring."""

    def __init__(self, servers: Iterable[str], *, resolution_s: int = RESOLUTION_S,
                 window_s: int = WINDOW_S, clock: Callable[[], float] = time.time) -> None:
        self.resolution_s = resolution_s
        self.window_s = window_s
        self.size = window_s // resolution_s
        self.clock = clock
        self.servers = tuple(servers)
        self._keys = frozenset((*self.servers, GLOBAL))
        self._rings: dict[tuple[str, str], Ring] = {}
        self._latencies: dict[tuple[str, str], LatencyRing] = {}

    def add_server(self, server_id: str) -> None:
        """A server added while the hub runs gets its own series from now on."""
        if server_id not in self._keys:
            self.servers = (*self.servers, server_id)
            self._keys = frozenset((*self.servers, GLOBAL))

    def _bucket(self, at: float | None = None) -> int:
        return int((self.clock() if at is None else at) // self.resolution_s)

    def _ring(self, name: str, server: str) -> Ring | None:
        key = (name, server)
        ring = self._rings.get(key)
        if ring is None:
            if server not in self._keys:
                return None
            ring = self._rings[key] = Ring(self.size)
        return ring

    # --- writing -------------------------------------------------------------------------

    def count(self, name: str, server: str = GLOBAL, n: float = 1.0,
              at: float | None = None) -> None:
        """Add `n` to counter `name` in the current bucket."""
        ring = self._ring(name, server)
        if ring is not None:
            ring.add(self._bucket(at), n)

    def gauge(self, name: str, server: str = GLOBAL, value: float = 0.0,
              at: float | None = None) -> None:
        """Record a gauge's value; a bucket keeps the last one set in it."""
        ring = self._ring(name, server)
        if ring is not None:
            ring.set(self._bucket(at), value)

    def observe(self, name: str, server: str = GLOBAL, seconds: float = 0.0,
                at: float | None = None) -> None:
        """Record one latency (seconds) for percentiles."""
        key = (name, server)
        ring = self._latencies.get(key)
        if ring is None:
            if server not in self._keys:
                return
            ring = self._latencies[key] = LatencyRing(self.size)
        ring.observe(self._bucket(at), seconds)

    # --- reading -------------------------------------------------------------------------

    def _span(self, minutes: float) -> range:
        now = self._bucket()
        n = max(1, min(self.size, int(minutes * 60 // self.resolution_s)))
        return range(now - n + 1, now + 1)

    def series(self, name: str, server: str | None = None,
               minutes: float = 60) -> list[tuple[float, float | None]]:
        """The last `minutes` of a series, oldest first, one point per 10 s bucket.

        Each point is `(bucket start, unix seconds; value)`. Values: counters as a rate
        per second (0.0 for an empty bucket); gauges as the last value set in the bucket
        (None when none was); `error_rate` as a fraction 0..1 (None without SSH calls);
        `ssh_p95` / `telegram_p95` and latencies as p95 seconds (None without calls).
        `server=None` means the global series, or for per-server names the sum (rates),
        merge (p95) or total (gauges) over all servers.
        """
        if name not in NAMES:
            raise KeyError(name)
        span = self._span(minutes)
        res = self.resolution_s
        return [(float(b * res), self._point(name, server, (b,))) for b in span]

    def window(self, name: str, server: str | None = None, minutes: float = 5) -> float | None:
        """One figure over the last `minutes`: what an alert rule compares with a threshold.

        Counters: the total count. Gauges: the latest value set. `error_rate`: errors /
        calls over the whole window (not a mean of per-bucket rates). p95s and latencies:
        the p95 of every observation in the window. None where there was nothing.
        """
        if name not in NAMES:
            raise KeyError(name)
        span = self._span(minutes)
        if name in GAUGES:
            for b in reversed(span):
                value = self._point(name, server, (b,))
                if value is not None:
                    return value
            return None
        if name in COUNTERS:
            return sum(self._sum(name, server, span))
        return self._point(name, server, span)

    def _servers(self, name: str, server: str | None) -> tuple[str, ...]:
        if server is not None:
            return (server,)
        if name in ("telegram_sends", "telegram_failures", "dlq_size", "telegram_seconds",
                    "telegram_p95"):
            return (GLOBAL,)
        return self.servers

    def _sum(self, name: str, server: str | None, buckets: Iterable[int]) -> list[float]:
        """Per-bucket counts summed over the servers asked for."""
        rings = [r for s in self._servers(name, server)
                 if (r := self._rings.get((name, s))) is not None]
        out = []
        for b in buckets:
            out.append(sum(v for r in rings if (v := r.get(b)) is not None))
        return out

    def _point(self, name: str, server: str | None, buckets: tuple[int, ...] | range
               ) -> float | None:
        if name in COUNTERS:
            total = sum(self._sum(name, server, buckets))
            return total / (self.resolution_s * len(buckets))
        if name in GAUGES:
            values = [v for s in self._servers(name, server)
                      if (r := self._rings.get((name, s))) is not None
                      for b in buckets if (v := r.get(b)) is not None]
            return sum(values) if values else None
        if name == "error_rate":
            calls = sum(self._sum("ssh_calls", server, buckets))
            if not calls:
                return None
            return sum(self._sum("ssh_errors", server, buckets)) / calls
        source = {"ssh_p95": "ssh_seconds", "telegram_p95": "telegram_seconds"}.get(name, name)
        return self._p95(source, server, buckets)

    def _p95(self, name: str, server: str | None, buckets: Iterable[int]) -> float | None:
        buckets = tuple(buckets)
        total = [0] * _BINS
        top = 0.0
        for s in self._servers(name, server):
            ring = self._latencies.get((name, s))
            if ring is None:
                continue
            hist, high, _ = ring.merged(buckets)
            total = [a + b for a, b in zip(total, hist, strict=True)]
            top = max(top, high)
        return quantile(total, top, 0.95)

    def snapshot(self) -> dict[str, Any]:
        """Current figures for the API, the console header and the alert rules.

        ```
        {"at": unix s, "resolution_s": 10, "window_s": 3600,
         "servers": {id: {"commands_per_s": last 1 min, "command_errors_5m": count,
                          "commands_60m": count, "ssh_calls_5m": count,
                          "error_rate_5m": 0..1 | None, "ssh_p95_5m_s": s | None,
                          "sessions_live": n | None}},
         "overall": {same keys, all servers together},
         "telegram": {"sent_5m": n, "failed_5m": n, "sent_60m": n, "failed_60m": n,
                      "send_p95_5m_s": s | None},
         "dlq_size": n | None}
        ```
        """
        per = {sid: self._figures(sid) for sid in self.servers}
        return {
            "at": self.clock(), "resolution_s": self.resolution_s, "window_s": self.window_s,
            "servers": per,
            "overall": self._figures(None),
            "telegram": {
                "sent_5m": int(self.window("telegram_sends", minutes=5) or 0),
                "failed_5m": int(self.window("telegram_failures", minutes=5) or 0),
                "sent_60m": int(self.window("telegram_sends", minutes=60) or 0),
                "failed_60m": int(self.window("telegram_failures", minutes=60) or 0),
                "send_p95_5m_s": self.window("telegram_p95", minutes=5),
            },
            "dlq_size": _int(self.window("dlq_size", minutes=60)),
        }

    def _figures(self, server: str | None) -> dict[str, Any]:
        return {
            "commands_per_s": self._point("commands", server, self._span(1)),
            "commands_60m": int(self.window("commands", server, 60) or 0),
            "command_errors_5m": int(self.window("command_errors", server, 5) or 0),
            "ssh_calls_5m": int(self.window("ssh_calls", server, 5) or 0),
            "error_rate_5m": self.window("error_rate", server, 5),
            "ssh_p95_5m_s": self.window("ssh_p95", server, 5),
            "sessions_live": _int(self.window("sessions_live", server, 60)),
        }

    def memory_bytes(self) -> int:
        """Bytes held by the rings' arrays (the bulk of this object's memory)."""
        total = 0
        for ring in self._rings.values():
            total += ring.buckets.itemsize * len(ring.buckets) * 2
        for lat in self._latencies.values():
            total += lat.buckets.itemsize * len(lat.buckets) * 2
            total += sum(h.itemsize * len(h) for h in lat.hists if h is not None)
        return total


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
