"""Percentiles and the plain-text table the benchmarks print."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

QUANTILES = (0.50, 0.95, 0.99, 1.00)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """p50, p95, p99 and max of one series, in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        p50, p95, p99, top = (percentile(values, q) for q in QUANTILES)
        return cls(len(values), p50, p95, p99, top)

    def figures(self) -> tuple[float, float, float, float]:
        return self.p50, self.p95, self.p99, self.max

    def minus(self, other: Summary) -> tuple[float, float, float, float]:
        """Figure-by-figure difference (self - other): the overhead at each percentile."""
        mine, theirs = self.figures(), other.figures()
        return (mine[0] - theirs[0], mine[1] - theirs[1], mine[2] - theirs[2],
                mine[3] - theirs[3])


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A left-aligned first column and right-aligned others, separated by two spaces."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(c).rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ms(value: float, *, signed: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"
