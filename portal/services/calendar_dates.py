"""Calendar arithmetic for terms measured in months.

Decision: adding months keeps the day of the month and clamps it to the last day of the target
month when that month is shorter. So a term assigned on 31 January ends on 28 (or 29) February of
the year it ends, and a 12-month term from 29 February 2024 ends on 28 February 2025. The
customer never gets a date that does not exist, and never gets a day beyond the month they paid
for; the cost is that a term starting on a month end can be up to three days shorter than one
starting on the first. Terms are not re-anchored later: each term counts from its own start.
"""

from __future__ import annotations

import calendar
from datetime import date


def days_in_month(year: int, month: int) -> int:
    """Number of days in the month."""
    return calendar.monthrange(year, month)[1]


def add_months(d: date, months: int) -> date:
    """`d` moved by `months` calendar months (negative allowed), clamped to the month's last day."""
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    return date(year, month, min(d.day, days_in_month(year, month)))
