"""Month arithmetic: terms measured in months, clamped to the month's last day."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.services.calendar_dates import add_months, days_in_month


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 10), 6, date(2026, 7, 10)),  # the trial
        (date(2026, 1, 10), 12, date(2027, 1, 10)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),  # leap day, next year has none
        (date(2024, 2, 29), 48, date(2028, 2, 29)),  # four years on, it exists again
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 8, 31), 1, date(2025, 9, 30)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2025, 11, 15), 2, date(2026, 1, 15)),  # across the year end
        (date(2025, 12, 31), 60, date(2030, 12, 31)),
        (date(2025, 5, 5), 0, date(2025, 5, 5)),
    ],
)
def test_add_months_keeps_the_day_or_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("year", "month", "days"), [(2024, 2, 29), (2025, 2, 28), (2100, 2, 28), (2025, 4, 30)]
)
def test_days_in_month(year: int, month: int, days: int) -> None:
    assert days_in_month(year, month) == days


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)), st.integers(0, 120))
def test_add_months_lands_in_the_right_month_on_the_same_or_an_earlier_day(start: date, months: int) -> None:
    end = add_months(start, months)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    assert end.day == min(start.day, days_in_month(end.year, end.month))


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)), st.integers(1, 120))
def test_a_term_of_n_months_lasts_between_28n_and_31n_days(start: date, months: int) -> None:
    days = (add_months(start, months) - start).days
    assert 28 * months <= days <= 31 * months
