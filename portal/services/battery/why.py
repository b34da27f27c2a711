"""The period a "why it went to battery" view covers, from a ?days= choice (7, 30 or 90) on the app clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.services.battery.transfers import DEFAULT_DAYS, PERIODS_DAYS


@dataclass(frozen=True)
class WhyPeriod:
    days: int
    start: datetime
    end: datetime
    note: str  # why the choice was not taken, or ""


def period(raw: str | None, *, now: datetime) -> WhyPeriod:
    note = ""
    days = DEFAULT_DAYS
    if raw:
        if raw.strip().isdigit() and int(raw.strip()) in PERIODS_DAYS:
            days = int(raw.strip())
        else:
            choices = ", ".join(str(d) for d in PERIODS_DAYS)
            note = f"Choose a period of {choices} days; showing the last {DEFAULT_DAYS} days."
    return WhyPeriod(days, now - timedelta(days=days), now, note)
