"""The Overview's charts as plain geometry for inline SVG: pure functions of metric points, no I/O, no JS.

Each chart covers the last hour a minute at a time; a minute with no point counts as zero (nothing ran).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..model import MetricPoint

#: The drawing area of every chart, in SVG user units (the page scales it to its width).
WIDTH, HEIGHT = 600.0, 160.0
#: The most lines one chart draws (wait time per queue: the queues with the longest waits).
MAX_LINES = 6


@dataclass(frozen=True)
class Line:
    label: str
    points: str  # "x,y x,y ...", for <polyline points>
    last: float
    series: int  # which colour: its class is series-<n>


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    top: float  # the value at the top edge
    lines: list[Line]
    width: float = WIDTH
    height: float = HEIGHT

    @property
    def empty(self) -> bool:
        return not self.lines


def minutes(now: float, window_s: float) -> list[float]:
    """The starts of the whole minutes of the window ending at ``now``, oldest first."""
    last = now // 60 * 60 - 60  # the last whole minute: the current one is still filling
    count = int(window_s // 60)
    return [last - 60 * (count - 1 - i) for i in range(count)]


def _started(point: MetricPoint) -> int:
    return point.succeeded + point.failed + point.retried + point.cancelled


def _polyline(values: Sequence[float], top: float) -> str:
    step = WIDTH / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{HEIGHT - (v / top) * HEIGHT if top else HEIGHT:.1f}" for i, v in enumerate(values)
    )


def _nice_top(peak: float) -> float:
    """A round number at or above ``peak``, for the top gridline (1, 2 or 5 times a power of ten)."""
    if peak <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= peak:
        scale *= 10
    while scale > peak:
        scale /= 10
    return next(m * scale for m in (1, 2, 5, 10) if m * scale >= peak)


def _chart(title: str, unit: str, series: dict[str, list[float]]) -> Chart:
    top = _nice_top(max((v for values in series.values() for v in values), default=0.0))
    lines = [
        Line(label, _polyline(values, top), values[-1] if values else 0.0, n % MAX_LINES)
        for n, (label, values) in enumerate(series.items())
    ]
    return Chart(title, unit, top, lines)


def per_minute(
    points: Sequence[MetricPoint],
    grid: Sequence[float],
    key: Callable[[MetricPoint], str],
    value: Callable[[MetricPoint], float],
) -> dict[str, list[float]]:
    """``value`` summed per minute of ``grid`` and per ``key`` of each point."""
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for point in points:
        sums[key(point)][point.minute] += value(point)
    return {label: [by_minute.get(m, 0.0) for m in grid] for label, by_minute in sorted(sums.items())}


def overview_charts(points: Sequence[MetricPoint], *, now: float, window_s: float = 3600.0) -> list[Chart]:
    """Jobs per minute, failures per minute, and mean wait per queue (seconds from enqueue to start)."""
    grid = minutes(now, window_s)
    inside = [p for p in points if grid and grid[0] <= p.minute <= grid[-1]]
    done = per_minute(inside, grid, lambda p: "succeeded", lambda p: float(p.succeeded))
    failed = per_minute(inside, grid, lambda p: "failed", lambda p: float(p.failed))
    waits = per_minute(inside, grid, lambda p: p.queue, lambda p: p.wait_s_sum)
    starts = per_minute(inside, grid, lambda p: p.queue, lambda p: float(_started(p)))
    mean_wait = {queue: [w / s if s else 0.0 for w, s in zip(total, starts[queue])] for queue, total in waits.items()}
    longest = dict(sorted(mean_wait.items(), key=lambda item: -max(item[1], default=0.0))[:MAX_LINES])
    return [
        _chart("Jobs per minute", "jobs", done or {"succeeded": [0.0] * len(grid)}),
        _chart("Failures per minute", "jobs", failed or {"failed": [0.0] * len(grid)}),
        _chart("Wait time per queue", "s", dict(sorted(longest.items()))),
    ]
