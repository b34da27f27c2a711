"""A device's subscription as a timeline of plan segments, built from its entitlements.

The rules (FAQ "Appending and Stacking", design notes):
- At any moment the highest plan that still has time runs; within a plan, first assigned runs first.
- So a license of the plan already running is appended after the running term (early renewal loses no
  day), and several of one plan stack one after the other (1Y + 3Y = 4 years).
- An upgrade starts on its assignment day; the lower plan's remaining days are paused and resume when
  the higher plan's time is used up. A lower plan assigned while a higher one runs waits behind it.
- A term that has not started yet counts its months from the day it starts: N months from day S end
  on add_months(S, N). From then on it is a number of days, which is what a pause keeps.
- A license assigned when nothing is left starts on its assignment day; the device was on Basic in
  between, and is on Basic again once every term has run out.

The algorithm is an event simulation. Time moves from one event to the next, where an event is either
an assignment day (the set of terms with time changes) or the end of the running term. Between two
events one term runs, and that stretch becomes a segment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from portal.services.calendar_dates import add_months
from portal.services.licensing.plans import Plan

EntitlementSource = Literal["trial", "license"]


@dataclass(frozen=True)
class Entitlement:
    """A term of a plan assigned to one device on one day (months include any promotion bonus)."""

    id: int
    plan: Plan
    months: int
    assigned_on: date
    source: EntitlementSource = "license"

    def __post_init__(self) -> None:
        if self.plan is Plan.BASIC:
            raise ValueError("Basic is what remains when no entitlement runs; it is never assigned.")
        if self.months < 1:
            raise ValueError(f"An entitlement lasts at least one month, not {self.months}.")
        if self.source not in ("trial", "license"):
            raise ValueError(f"Unknown entitlement source {self.source!r}.")


@dataclass(frozen=True)
class Segment:
    """A stretch of days [start, end) during which one entitlement's plan runs."""

    plan: Plan
    start: date
    end: date  # exclusive: the first day this entitlement no longer runs
    entitlement_id: int

    @property
    def days(self) -> int:
        """Number of days covered."""
        return (self.end - self.start).days

    def covers(self, day: date) -> bool:
        """Whether `day` falls inside the segment."""
        return self.start <= day < self.end


@dataclass(frozen=True)
class Timeline:
    """Non-overlapping segments in date order; days outside every segment are on Basic."""

    segments: tuple[Segment, ...]


@dataclass
class _Term:
    """Working state of one entitlement during the simulation."""

    entitlement: Entitlement
    rank: int  # position in assignment order: earlier assigned runs first within a plan
    days_left: int | None = None  # None until the term first starts; its months are fixed then


def _in_assignment_order(entitlements: Iterable[Entitlement]) -> list[Entitlement]:
    """By assignment day; entitlements of the same day keep the order they were given in."""
    return sorted(entitlements, key=lambda e: e.assigned_on)  # sorted() is stable


def _append(segments: list[Segment], segment: Segment) -> None:
    """Add a segment, joining it to the previous one when the same term simply continues."""
    if segments:
        last = segments[-1]
        if last.entitlement_id == segment.entitlement_id and last.end == segment.start:
            segments[-1] = Segment(last.plan, last.start, segment.end, last.entitlement_id)
            return
    segments.append(segment)


def build_timeline(entitlements: Sequence[Entitlement]) -> Timeline:
    """The device's timeline from all its entitlements, whatever the order they were assigned in."""
    pending = [_Term(e, rank) for rank, e in enumerate(_in_assignment_order(entitlements))]
    with_time: list[_Term] = []  # assigned and not used up
    segments: list[Segment] = []
    next_index = 0  # first entitlement of `pending` not assigned yet at `today`
    today = date.min

    while next_index < len(pending) or with_time:
        if not with_time:
            # Nothing left: the device sits on Basic until the next assignment.
            today = pending[next_index].entitlement.assigned_on
        while next_index < len(pending) and pending[next_index].entitlement.assigned_on <= today:
            with_time.append(pending[next_index])
            next_index += 1

        running = max(with_time, key=lambda term: (term.entitlement.plan, -term.rank))
        if running.days_left is None:
            running.days_left = (add_months(today, running.entitlement.months) - today).days

        # Run until the term is used up or the next assignment, which may bring a higher plan.
        stop = today + timedelta(days=running.days_left)
        if next_index < len(pending):
            stop = min(stop, pending[next_index].entitlement.assigned_on)

        entitlement = running.entitlement
        _append(segments, Segment(entitlement.plan, today, stop, entitlement.id))
        running.days_left -= (stop - today).days
        if running.days_left == 0:
            with_time.remove(running)
        today = stop

    return Timeline(tuple(segments))


def current_segment(timeline: Timeline, day: date) -> Segment | None:
    """The segment running on `day`, or None when the device is on Basic that day."""
    return next((segment for segment in timeline.segments if segment.covers(day)), None)


def plan_on(timeline: Timeline, day: date) -> Plan:
    """The plan the device is on that day (Basic when nothing runs)."""
    return standing_on(timeline, day).plan


@dataclass(frozen=True)
class Standing:
    """Where a device stands on one day: the plan running, whether it is the trial, what is queued after it."""

    plan: Plan
    current: Segment | None  # None: on Basic that day
    on_trial: bool
    queued: tuple[Segment, ...]
    covered_until: date | None  # when every segment with time left has run out; None when none has
    trial_ids: frozenset[int] = frozenset()  # entitlements that are the device's trial

    def is_trial(self, segment: Segment) -> bool:
        return segment.entitlement_id in self.trial_ids


def standing_on(timeline: Timeline, day: date, trial_ids: frozenset[int] = frozenset()) -> Standing:
    """The one rule for "which plan today, and on trial?": every page and job asks this, once per device."""
    current = current_segment(timeline, day)
    ends = [segment.end for segment in timeline.segments if segment.end > day]
    return Standing(
        plan=current.plan if current else Plan.BASIC,
        current=current,
        on_trial=current is not None and current.entitlement_id in trial_ids,
        queued=queued_after(timeline, day),
        covered_until=max(ends) if ends else None,
        trial_ids=trial_ids,
    )


def queued_after(timeline: Timeline, day: date) -> tuple[Segment, ...]:
    """Segments that start after `day`: queued renewals, resumed paused time, later licenses."""
    return tuple(segment for segment in timeline.segments if segment.start > day)


def paid_through(timeline: Timeline) -> date | None:
    """The first day after every entitlement has run out (the device is on Basic from then on)."""
    return timeline.segments[-1].end if timeline.segments else None


def _contiguous_from(timeline: Timeline, day: date, same_plan: bool) -> date | None:
    """End of the unbroken run of segments covering `day` (optionally only while the plan stays)."""
    current = current_segment(timeline, day)
    if current is None:
        return None
    end = current.end
    for segment in timeline.segments:
        if segment.start == end and (not same_plan or segment.plan is current.plan):
            end = segment.end
    return end


def covered_until(timeline: Timeline, day: date) -> date | None:
    """The day the device falls back to Basic, counted from `day`; None when on Basic that day."""
    return _contiguous_from(timeline, day, same_plan=False)


def term_end_for_plan_on(timeline: Timeline, day: date) -> date | None:
    """The day the plan running on `day` stops running (a pause, a lower plan, or Basic)."""
    return _contiguous_from(timeline, day, same_plan=True)


def days_left_on(timeline: Timeline, day: date) -> int:
    """Covered days from `day` on, across every plan and queued term."""
    return sum((s.end - max(s.start, day)).days for s in timeline.segments if s.end > day)


def segments_of(timeline: Timeline, entitlement_id: int) -> tuple[Segment, ...]:
    """The segments one entitlement runs in (two or more when a higher plan paused it)."""
    return tuple(segment for segment in timeline.segments if segment.entitlement_id == entitlement_id)
