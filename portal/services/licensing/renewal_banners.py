"""Renewal banners: one rule for the dashboard, the Subscription Overview and the device page.

A device is *renewal due* when its subscribed time runs out within 90 days (not yet run out), *trial
ending* when the running term is its trial and ends within 30 days, and *on Basic* when no subscribed
time is left. `classify` is the rule for one device; `counts_sql` is the same rule over a fleet in SQL
(tests/licensing/test_renewal_banners.py checks they agree); `renewal_banners` words the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql import Select

RENEWAL_DUE_DAYS = 90
TRIAL_ENDING_DAYS = 30


@dataclass(frozen=True)
class RenewalCounts:
    renewal_due: int = 0
    trial_ending: int = 0
    on_basic: int = 0

    def __add__(self, other: RenewalCounts) -> RenewalCounts:
        return RenewalCounts(
            self.renewal_due + other.renewal_due, self.trial_ending + other.trial_ending, self.on_basic + other.on_basic
        )


@dataclass(frozen=True)
class Banner:
    kind: str  # renewal_due | trial_ending | on_basic
    severity: str  # warning | info
    title: str
    text: str
    action: str  # the link's words; the page decides where it points


def classify(covered_until: date | None, trial_running: bool, today: date) -> RenewalCounts:
    """The rule for one device: its subscribed time runs out on `covered_until` (exclusive)."""
    if covered_until is None or covered_until <= today:
        return RenewalCounts(on_basic=1)
    return RenewalCounts(
        renewal_due=int(covered_until <= today + timedelta(days=RENEWAL_DUE_DAYS)),
        trial_ending=int(trial_running and covered_until <= today + timedelta(days=TRIAL_ENDING_DAYS)),
    )


def may_count(term_end, today: date) -> tuple:
    """The devices `counts_sql` can count at all, as two disjoint conditions: no term, or one ending
    within the widest window. A UNION ALL of one query per condition reads two ranges of an index on
    term_end instead of every device (an OR of them makes SQLite scan them all)."""
    widest = max(RENEWAL_DUE_DAYS, TRIAL_ENDING_DAYS)
    return term_end.is_(None), term_end <= today + timedelta(days=widest)


def counts_sql(rows, today: date) -> Select:
    """The same rule over a subquery with `term_end` and `on_trial` columns: one row of three counts."""
    term_end, on_trial = rows.c.term_end, rows.c.on_trial
    running = and_(term_end.is_not(None), term_end > today)
    return select(
        func.count().filter(and_(running, term_end <= today + timedelta(days=RENEWAL_DUE_DAYS))),
        func.count().filter(and_(running, on_trial, term_end <= today + timedelta(days=TRIAL_ENDING_DAYS))),
        func.count().filter(or_(term_end.is_(None), term_end <= today)),
    ).select_from(rows)


def _devices(n: int) -> str:
    return f"{n} device{'s' if n != 1 else ''}"


def renewal_banners(
    counts: RenewalCounts, *, device: bool = False, term_end: date | None = None, today: date | None = None
) -> list[Banner]:
    """The banners for these counts. `device`: the counts are one device's (ending `term_end`), worded so."""
    day = term_end.strftime("%d %b %Y") if term_end else ""
    left = (term_end - today).days if term_end and today else 0
    in_days = f" (in {left} day{'s' if left != 1 else ''})" if left > 0 else ""
    banners = []
    if counts.trial_ending:
        text = (
            f"This device's Standard trial ends on {day}{in_days}; it then drops to the Basic plan."
            if device
            else f"{_devices(counts.trial_ending)} will drop to the Basic plan within {TRIAL_ENDING_DAYS} days."
        )
        banners.append(Banner("trial_ending", "warning", "Trial ending", text, "Extend monitoring"))
    if counts.renewal_due:
        n = counts.renewal_due
        verb, their = ("reaches", "its") if n == 1 else ("reach", "their")
        text = (
            f"This device's subscription ends on {day}{in_days}."
            if device
            else f"{_devices(n)} {verb} the end of {their} subscription within {RENEWAL_DUE_DAYS} days."
        )
        banners.append(Banner("renewal_due", "warning", "Renewal due", text + " Renew early: no day is lost.", "Renew"))
    if counts.on_basic:
        n = counts.on_basic
        if device:
            text = (
                f"This device's subscription ended on {day}: status view only, no alerts, no remote actions."
                if term_end
                else "This device has no subscription: status view only, no alerts, no remote actions."
            )
        else:
            text = f"{_devices(n)} {'has' if n == 1 else 'have'} no subscription: status view only, no alerts, no remote actions."
        banners.append(Banner("on_basic", "info", "On Basic", text, "Choose a plan"))
    return banners


def device_banners(covered_until: date | None, trial_running: bool, today: date, *, ended_on: date | None = None) -> list[Banner]:
    """One device's banners (the device page): the same rule, worded for the device; `ended_on` once on Basic."""
    counts = classify(covered_until, trial_running, today)
    return renewal_banners(counts, device=True, term_end=covered_until or ended_on, today=today)
