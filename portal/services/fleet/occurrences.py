"""When a recurring schedule runs next: weekly (weekday and hour) or monthly (day of the month and hour).

Decision: a monthly day past the month's end (29, 30 or 31) runs on the month's last day, as the product's
month arithmetic clamps (calendar_dates). Times are the lab clock's, in UTC. The next occurrence is always
strictly after the time given, so a pass that finds a schedule late (the clock moved on by weeks) runs it
once and sets the following occurrence after now, never once per missed week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.services.calendar_dates import days_in_month
from portal.services.errors import DomainError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CADENCES = ("weekly", "monthly")


class CadenceError(DomainError):
    """A cadence that names no time (hour 25, day 32, no weekday)."""


@dataclass(frozen=True)
class Cadence:
    kind: str  # "weekly" or "monthly"
    hour: int
    weekday: int | None = None  # 0 = Monday
    day_of_month: int | None = None

    def describe(self) -> str:
        if self.kind == "weekly":
            return f"Every {WEEKDAYS[self.weekday or 0]} at {self.hour:02d}:00 UTC"
        day = self.day_of_month or 1
        clamped = " (or the month's last day)" if day > 28 else ""
        return f"Monthly on day {day}{clamped} at {self.hour:02d}:00 UTC"


def _number(raw: object, low: int, high: int, message: str, field: str) -> int:
    text = str(raw if raw is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise CadenceError(message, field)
    return int(text)


def parse_cadence(kind: str, *, hour: object, weekday: object = None, day_of_month: object = None) -> Cadence:
    """The cadence the form names, or CadenceError saying which field is wrong."""
    if kind not in CADENCES:
        raise CadenceError("Choose how often: weekly or monthly.", "cadence")
    hour_n = _number(hour, 0, 23, "The hour is a whole number from 0 to 23 (UTC).", "hour")
    if kind == "weekly":
        day = _number(weekday, 0, 6, "Choose the day of the week.", "weekday")
        return Cadence("weekly", hour_n, weekday=day)
    day = _number(
        day_of_month, 1, 31,
        "The day of the month is a whole number from 1 to 31 (29-31 run on the last day of shorter months).",
        "day_of_month",
    )
    return Cadence("monthly", hour_n, day_of_month=day)


def _monthly_on(year: int, month: int, cadence: Cadence) -> datetime:
    day = min(cadence.day_of_month or 1, days_in_month(year, month))
    return datetime(year, month, day, cadence.hour)


def next_after(cadence: Cadence, after: datetime) -> datetime:
    """The first occurrence strictly after `after`."""
    if cadence.kind == "weekly":
        start = after.replace(hour=cadence.hour, minute=0, second=0, microsecond=0)
        start += timedelta(days=((cadence.weekday or 0) - after.weekday()) % 7)
        return start if start > after else start + timedelta(days=7)
    year, month = after.year, after.month
    while True:
        candidate = _monthly_on(year, month, cadence)
        if candidate > after:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)

