"""A battery's health from its measured discharges: the figure, its trend and the replace-by date (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

WINDOW = 3  # the latest measured discharges the health figure averages
TREND_MIN_POINTS = 3
TREND_MIN_SPAN_DAYS = 30  # a slope over days of measurement noise predicts nothing
TREND_HORIZON_DAYS = 20 * 365  # a replace-by date further out than this is no prediction
NOT_ENOUGH_DATA = "Not enough data yet: no discharge long enough to measure (at least 5 % of charge and 2 minutes)."


@dataclass(frozen=True)
class HealthPoint:
    """One measured discharge: when, the capacity it showed, and how much charge it used (its weight)."""

    on: date
    health: float
    weight: float = 1.0
    runtime_error: float | None = None  # predicted / measured runtime - 1


@dataclass(frozen=True)
class Estimate:
    health: float | None  # usable capacity relative to new, 0-1; None: not enough data yet
    points: int  # measured discharges behind the figure
    slope_per_year: float | None  # change of health per year; None: not enough data for a trend
    replace_by: date | None  # from the trend; None with `replace_by_note` saying why
    replace_by_note: str
    runtime_error: float | None  # mean over the window: + means the device promised more than it had
    trend_now: float | None = None  # the trend line's value at the latest measurement

    @property
    def summary(self) -> str:
        if self.health is None:
            return NOT_ENOUGH_DATA
        return f"{round(self.health * 100)} % of new capacity, from {self.points} measured discharge(s)."


def current_health(points: Sequence[HealthPoint]) -> float | None:
    """Charge-weighted mean of the latest WINDOW measurements, each capped at new (1.0)."""
    window = list(points)[-WINDOW:]
    total = sum(max(p.weight, 1e-9) for p in window)
    if not window:
        return None
    mean = sum(min(max(p.health, 0.0), 1.0) * max(p.weight, 1e-9) for p in window) / total
    return min(max(mean, 0.0), 1.0)


def trend_line(points: Sequence[HealthPoint]) -> tuple[float, float] | None:
    """Weighted least-squares (slope per day, value at the last point); None below TREND_MIN_POINTS
    or TREND_MIN_SPAN_DAYS."""
    if len(points) < TREND_MIN_POINTS:
        return None
    origin = points[0].on
    xs = [(p.on - origin).days for p in points]
    if max(xs) - min(xs) < TREND_MIN_SPAN_DAYS:
        return None
    ws = [max(p.weight, 1e-9) for p in points]
    ys = [min(max(p.health, 0.0), 1.0) for p in points]
    total = sum(ws)
    mean_x = sum(w * x for w, x in zip(ws, xs, strict=True)) / total
    mean_y = sum(w * y for w, y in zip(ws, ys, strict=True)) / total
    sxx = sum(w * (x - mean_x) ** 2 for w, x in zip(ws, xs, strict=True))
    sxy = sum(w * (x - mean_x) * (y - mean_y) for w, x, y in zip(ws, xs, ys, strict=True))
    if not sxx:
        return None
    slope = sxy / sxx
    return slope, mean_y + slope * (xs[-1] - mean_x)


def estimate(points: Sequence[HealthPoint], *, replace_below: float) -> Estimate:
    """Health, trend and predicted replace-by date from time-ordered measurements."""
    ordered = sorted(points, key=lambda p: p.on)
    health = current_health(ordered)
    if health is None:
        return Estimate(None, 0, None, None, NOT_ENOUGH_DATA, None)
    errors = [p.runtime_error for p in ordered[-WINDOW:] if p.runtime_error is not None]
    runtime_error = sum(errors) / len(errors) if errors else None
    last = ordered[-1].on
    line = trend_line(ordered)
    slope, trend_now = line if line else (None, None)
    if health <= replace_below:
        return Estimate(health, len(ordered), _per_year(slope), last, "Below the replace limit now.", runtime_error)
    if slope is None or trend_now is None:
        note = (
            f"Not enough data yet for a trend: it needs {TREND_MIN_POINTS} measured discharges "
            f"over at least {TREND_MIN_SPAN_DAYS} days."
        )
        return Estimate(health, len(ordered), None, None, note, runtime_error)
    if slope >= 0:
        return Estimate(health, len(ordered), _per_year(slope), None, "No decline measured yet.", runtime_error)
    days = max(trend_now - replace_below, 0.0) / -slope
    if days > TREND_HORIZON_DAYS:
        return Estimate(health, len(ordered), _per_year(slope), None, "Beyond 20 years at this rate.", runtime_error)
    when = last + timedelta(days=round(days))
    note = "Where the trend reaches the replace limit."
    return Estimate(health, len(ordered), _per_year(slope), when, note, runtime_error, trend_now)


def _per_year(slope: float | None) -> float | None:
    return None if slope is None else slope * 365.25
