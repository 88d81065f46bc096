"""The overview's plot: an hour of points squeezed into the columns there are, keeping peaks,
and a y axis topped at a round figure."""

from __future__ import annotations

from ccr.console.widgets.overview.plot import columns, nice_top


def test_a_short_series_is_right_aligned_so_now_is_the_last_column() -> None:
    assert columns([1.0, 2.0], 4) == [None, None, 1.0, 2.0]


def test_a_long_series_keeps_each_columns_peak_and_gaps() -> None:
    points: list[float | None] = [0.0] * 360
    points[300] = 5.0  # a 10 s spike near the end
    points[:60] = [None] * 60  # the hub was not running yet
    cols = columns(points, 36)
    assert len(cols) == 36 and max(c or 0.0 for c in cols) == 5.0
    assert cols[30] == 5.0 and cols[:6] == [None] * 6


def test_the_axis_top_is_a_round_figure_above_the_peak() -> None:
    assert [nice_top(v) for v in (0.0, 0.3, 1.0, 1.8, 3.2, 7.0, 42.0, 0.045)] == [
        1.0, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0, 0.05]
