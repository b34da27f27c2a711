"""The health trend as inline-SVG geometry: measured points, the trend to the replace limit (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from portal.services.battery.estimate import HealthPoint

WIDTH, HEIGHT = 600, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 10, 24  # room for the axis labels


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    on: date
    percent: int


@dataclass(frozen=True)
class HealthChart:
    points: tuple[ChartPoint, ...]
    line: str  # polyline through the measured points
    trend: str  # from the last measured figure to the predicted replace-by date ("" without one)
    limit_y: float
    gridlines: tuple[tuple[float, int], ...]  # (y, percent)
    first: date
    last: date
    width: int = WIDTH
    height: int = HEIGHT


def _y(health: float) -> float:
    return round(TOP + (1.0 - min(max(health, 0.0), 1.0)) * (HEIGHT - TOP - BOTTOM), 1)


def health_chart(
    points: Sequence[HealthPoint], *, limit: float, trend_now: float | None, replace_by: date | None
) -> HealthChart | None:
    """Geometry for the measured points (and the trend line from ``trend_now`` at the last point to
    ``replace_by``); None without points."""
    if not points:
        return None
    first, last = points[0].on, points[-1].on
    end = max(last, replace_by) if replace_by else last
    span = max((end - first).days, 1)

    def x(on: date) -> float:
        return round(LEFT + (on - first).days / span * (WIDTH - LEFT - RIGHT), 1)

    if (end - first).days == 0:  # every point on one day: spread them so each stays visible
        xs = [LEFT + (i + 0.5) / len(points) * (WIDTH - LEFT - RIGHT) for i in range(len(points))]
    else:
        xs = [x(p.on) for p in points]
    chart_points = tuple(
        ChartPoint(round(px, 1), _y(p.health), p.on, round(min(p.health, 1.0) * 100))
        for px, p in zip(xs, points, strict=True)
    )
    trend = ""
    if replace_by and trend_now is not None and replace_by > last:
        trend = f"{chart_points[-1].x},{_y(trend_now)} {x(replace_by)},{_y(limit)}"
    return HealthChart(
        points=chart_points,
        line=" ".join(f"{p.x},{p.y}" for p in chart_points),
        trend=trend,
        limit_y=_y(limit),
        gridlines=tuple((_y(v / 100), v) for v in (100, 75, 50, 25)),
        first=first,
        last=end,
    )
