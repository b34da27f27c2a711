"""A device's subscription timeline: trial, appending, stacking, upgrades that pause, queues and gaps."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.services.calendar_dates import add_months
from portal.services.licensing.plans import Plan
from portal.services.licensing.subscription_timeline import (
    Entitlement,
    Segment,
    Timeline,
    build_timeline,
    covered_until,
    current_segment,
    days_left_on,
    paid_through,
    plan_on,
    queued_after,
    segments_of,
    term_end_for_plan_on,
)

S, A = Plan.STANDARD, Plan.ADVANCED
d = date


def ent(id: int, plan: Plan, months: int, assigned_on: date, source: str = "license") -> Entitlement:
    return Entitlement(id=id, plan=plan, months=months, assigned_on=assigned_on, source=source)  # type: ignore[arg-type]


def trial(assigned_on: date, id: int = 1) -> Entitlement:
    return ent(id, S, 6, assigned_on, "trial")


def spans(timeline: Timeline) -> list[tuple[Plan, date, date, int]]:
    return [(s.plan, s.start, s.end, s.entitlement_id) for s in timeline.segments]


# Each row: the entitlements in assignment order, then the segments (plan, start, end exclusive, id).
CASES = {
    "trial alone is six months of Standard": (
        [trial(d(2026, 1, 10))],
        [(S, d(2026, 1, 10), d(2026, 7, 10), 1)],
    ),
    "early renewal is appended after the trial": (
        [trial(d(2026, 1, 10)), ent(2, S, 12, d(2026, 3, 1))],
        [(S, d(2026, 1, 10), d(2026, 7, 10), 1), (S, d(2026, 7, 10), d(2027, 7, 10), 2)],
    ),
    "renewal on the last covered day is appended too": (
        [trial(d(2026, 1, 10)), ent(2, S, 12, d(2026, 7, 9))],
        [(S, d(2026, 1, 10), d(2026, 7, 10), 1), (S, d(2026, 7, 10), d(2027, 7, 10), 2)],
    ),
    "1Y + 3Y assigned at once stack to 4 years": (
        [ent(1, S, 12, d(2026, 1, 1)), ent(2, S, 36, d(2026, 1, 1))],
        [(S, d(2026, 1, 1), d(2027, 1, 1), 1), (S, d(2027, 1, 1), d(2030, 1, 1), 2)],
    ),
    "upgrade mid-term starts at once; Standard resumes with its 184 remaining days": (
        [ent(1, S, 12, d(2026, 1, 1)), ent(2, A, 12, d(2026, 7, 1))],
        [
            (S, d(2026, 1, 1), d(2026, 7, 1), 1),
            (A, d(2026, 7, 1), d(2027, 7, 1), 2),
            (S, d(2027, 7, 1), d(2027, 7, 1) + timedelta(days=184), 1),
        ],
    ),
    "upgrade during the trial pauses its 122 remaining days": (
        [trial(d(2026, 1, 10)), ent(2, A, 12, d(2026, 3, 10))],
        [
            (S, d(2026, 1, 10), d(2026, 3, 10), 1),
            (A, d(2026, 3, 10), d(2027, 3, 10), 2),
            (S, d(2027, 3, 10), d(2027, 7, 10), 1),  # 122 days, as from 2026-03-10 to 2026-07-10
        ],
    ),
    "lower plan assigned during a higher one waits behind it": (
        [ent(1, A, 12, d(2026, 1, 1)), ent(2, S, 12, d(2026, 2, 1))],
        [(A, d(2026, 1, 1), d(2027, 1, 1), 1), (S, d(2027, 1, 1), d(2028, 1, 1), 2)],
    ),
    "Advanced renewed early runs before the paused Standard resumes": (
        [ent(1, S, 12, d(2026, 1, 1)), ent(2, A, 12, d(2026, 7, 1)), ent(3, A, 12, d(2027, 3, 1))],
        [
            (S, d(2026, 1, 1), d(2026, 7, 1), 1),
            (A, d(2026, 7, 1), d(2027, 7, 1), 2),
            (A, d(2027, 7, 1), d(2028, 7, 1), 3),
            (S, d(2028, 7, 1), d(2028, 7, 1) + timedelta(days=184), 1),
        ],
    ),
    "a queued Standard renewal waits behind a later upgrade": (
        [trial(d(2026, 1, 10)), ent(2, S, 12, d(2026, 2, 1)), ent(3, A, 12, d(2026, 4, 10))],
        [
            (S, d(2026, 1, 10), d(2026, 4, 10), 1),
            (A, d(2026, 4, 10), d(2027, 4, 10), 3),
            (S, d(2027, 4, 10), d(2027, 7, 10), 1),  # the trial's 91 days
            (S, d(2027, 7, 10), d(2028, 7, 10), 2),  # the renewal starts only after them
        ],
    ),
    "after a gap on Basic a license starts on its own assignment day": (
        [trial(d(2026, 1, 10)), ent(2, S, 12, d(2026, 9, 1))],
        [(S, d(2026, 1, 10), d(2026, 7, 10), 1), (S, d(2026, 9, 1), d(2027, 9, 1), 2)],
    ),
    "12 months from 29 February end on 28 February": (
        [ent(1, S, 12, d(2024, 2, 29))],
        [(S, d(2024, 2, 29), d(2025, 2, 28), 1)],
    ),
    "an appended term counts from its own start, not from the 29th": (
        [ent(1, S, 12, d(2024, 2, 29)), ent(2, S, 12, d(2024, 6, 1))],
        [(S, d(2024, 2, 29), d(2025, 2, 28), 1), (S, d(2025, 2, 28), d(2026, 2, 28), 2)],
    ),
    "a queued 1-month term starting on 31 January ends on 28 February": (
        [ent(1, A, 12, d(2025, 1, 31)), ent(2, S, 1, d(2025, 3, 1))],
        [(A, d(2025, 1, 31), d(2026, 1, 31), 1), (S, d(2026, 1, 31), d(2026, 2, 28), 2)],
    ),
    "same-day Standard and Advanced: Advanced first whatever the input order": (
        [ent(1, S, 12, d(2026, 1, 1)), ent(2, A, 12, d(2026, 1, 1))],
        [(A, d(2026, 1, 1), d(2027, 1, 1), 2), (S, d(2027, 1, 1), d(2028, 1, 1), 1)],
    ),
    "same day, same plan: input order decides": (
        [ent(7, A, 36, d(2026, 1, 1)), ent(3, A, 12, d(2026, 1, 1))],
        [(A, d(2026, 1, 1), d(2029, 1, 1), 7), (A, d(2029, 1, 1), d(2030, 1, 1), 3)],
    ),
    "entitlements given out of date order are taken by assignment day": (
        [ent(2, S, 12, d(2026, 3, 1)), trial(d(2026, 1, 10))],
        [(S, d(2026, 1, 10), d(2026, 7, 10), 1), (S, d(2026, 7, 10), d(2027, 7, 10), 2)],
    ),
    "no entitlements: always Basic": ([], []),
}


@pytest.mark.parametrize(("entitlements", "expected"), list(CASES.values()), ids=list(CASES))
def test_build_timeline(
    entitlements: list[Entitlement], expected: list[tuple[Plan, date, date, int]]
) -> None:
    assert spans(build_timeline(entitlements)) == expected


def test_stacked_1y_and_3y_are_exactly_four_years() -> None:
    timeline = build_timeline([ent(1, S, 12, d(2026, 1, 1)), ent(2, S, 36, d(2026, 1, 1))])
    assert paid_through(timeline) == add_months(d(2026, 1, 1), 48)


UPGRADED = build_timeline([ent(1, S, 12, d(2026, 1, 1)), ent(2, A, 12, d(2026, 7, 1))])


@pytest.mark.parametrize(
    ("day", "plan"),
    [
        (d(2025, 12, 31), Plan.BASIC),
        (d(2026, 1, 1), S),
        (d(2026, 6, 30), S),
        (d(2026, 7, 1), A),
        (d(2027, 6, 30), A),
        (d(2027, 7, 1), S),
        (d(2027, 12, 31), S),
        (d(2028, 1, 1), Plan.BASIC),
    ],
)
def test_plan_on(day: date, plan: Plan) -> None:
    assert plan_on(UPGRADED, day) is plan


def test_query_helpers_on_an_upgraded_device() -> None:
    day = d(2026, 8, 15)
    assert current_segment(UPGRADED, day) == Segment(A, d(2026, 7, 1), d(2027, 7, 1), 2)
    assert queued_after(UPGRADED, day) == (Segment(S, d(2027, 7, 1), d(2028, 1, 1), 1),)
    assert term_end_for_plan_on(UPGRADED, day) == d(2027, 7, 1)
    assert covered_until(UPGRADED, day) == d(2028, 1, 1)
    assert paid_through(UPGRADED) == d(2028, 1, 1)
    assert days_left_on(UPGRADED, d(2027, 12, 30)) == 2
    assert [s.days for s in segments_of(UPGRADED, 1)] == [181, 184]  # 365 days of Standard in all


def test_queries_on_basic() -> None:
    empty = build_timeline([])
    assert current_segment(empty, d(2026, 1, 1)) is None
    assert plan_on(empty, d(2026, 1, 1)) is Plan.BASIC
    assert paid_through(empty) is None
    assert covered_until(empty, d(2026, 1, 1)) is None
    assert term_end_for_plan_on(empty, d(2026, 1, 1)) is None
    assert days_left_on(empty, d(2026, 1, 1)) == 0


def test_covered_until_stops_at_a_gap() -> None:
    timeline = build_timeline([trial(d(2026, 1, 10)), ent(2, S, 12, d(2026, 9, 1))])
    assert covered_until(timeline, d(2026, 2, 1)) == d(2026, 7, 10)
    assert paid_through(timeline) == d(2027, 9, 1)
    assert queued_after(timeline, d(2026, 2, 1)) == (Segment(S, d(2026, 9, 1), d(2027, 9, 1), 2),)


def test_consecutive_same_plan_terms_share_one_term_end() -> None:
    timeline = build_timeline([trial(d(2026, 1, 10)), ent(2, S, 12, d(2026, 3, 1))])
    assert term_end_for_plan_on(timeline, d(2026, 2, 1)) == d(2027, 7, 10)


@pytest.mark.parametrize(
    ("plan", "months", "source"), [(Plan.BASIC, 12, "license"), (S, 0, "license"), (S, 12, "gift")]
)
def test_invalid_entitlements_are_programming_errors(plan: Plan, months: int, source: str) -> None:
    with pytest.raises(ValueError):
        ent(1, plan, months, d(2026, 1, 1), source)


# Property tests over random histories of assignments.

entitlement_lists = st.lists(
    st.tuples(
        st.sampled_from([S, A]),
        st.sampled_from([1, 6, 12, 36, 60]) | st.integers(1, 60),
        st.dates(min_value=d(2024, 1, 1), max_value=d(2031, 12, 31)),
    ),
    max_size=8,
).map(lambda rows: [ent(i, plan, months, day) for i, (plan, months, day) in enumerate(rows, start=1)])


def _consumed_before(timeline: Timeline, entitlement_id: int, day: date) -> int:
    return sum(max(0, (min(s.end, day) - s.start).days) for s in segments_of(timeline, entitlement_id))


def _own_length(timeline: Timeline, e: Entitlement) -> int:
    start = segments_of(timeline, e.id)[0].start
    return (add_months(start, e.months) - start).days


@given(entitlement_lists)
def test_segments_are_ordered_and_never_overlap(entitlements: list[Entitlement]) -> None:
    segments = build_timeline(entitlements).segments
    assert all(s.start < s.end for s in segments)
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:], strict=False))
    # A term that simply continues is one segment, not two touching ones.
    assert all(
        not (a.end == b.start and a.entitlement_id == b.entitlement_id)
        for a, b in zip(segments, segments[1:], strict=False)
    )


@given(entitlement_lists)
def test_no_day_is_lost_whatever_the_order_and_dates(entitlements: list[Entitlement]) -> None:
    timeline = build_timeline(entitlements)
    for e in entitlements:
        own = segments_of(timeline, e.id)
        assert own, "every entitlement runs"
        assert own[0].start >= e.assigned_on
        assert all(s.plan is e.plan for s in own)
        assert sum(s.days for s in own) == _own_length(timeline, e)
    total = sum(s.days for s in timeline.segments)
    assert total == sum(_own_length(timeline, e) for e in entitlements)


@given(entitlement_lists)
def test_basic_only_when_nothing_assigned_has_time_left(entitlements: list[Entitlement]) -> None:
    timeline = build_timeline(entitlements)
    segments = timeline.segments
    if not segments:
        return
    assert segments[0].start == min(e.assigned_on for e in entitlements)
    for before, after in zip(segments, segments[1:], strict=False):
        if before.end < after.start:  # a gap on Basic: it ends on an assignment day
            assert after.start in {e.assigned_on for e in entitlements}
            for e in entitlements:
                if e.assigned_on < after.start:
                    assert segments_of(timeline, e.id)[-1].end <= before.end


@given(entitlement_lists)
@settings(max_examples=150)
def test_the_highest_plan_with_time_runs_and_first_assigned_first(entitlements: list[Entitlement]) -> None:
    timeline = build_timeline(entitlements)
    priority = {e.id: (e.assigned_on, index) for index, e in enumerate(entitlements)}
    checkpoints = {e.assigned_on for e in entitlements}
    checkpoints |= {s.start for s in timeline.segments} | {
        s.end - timedelta(days=1) for s in timeline.segments
    }
    for day in sorted(checkpoints):
        with_time = [
            e
            for e in entitlements
            if e.assigned_on <= day and _consumed_before(timeline, e.id, day) < _own_length(timeline, e)
        ]
        segment = current_segment(timeline, day)
        if not with_time:
            assert segment is None and plan_on(timeline, day) is Plan.BASIC
            continue
        top = max(e.plan for e in with_time)
        first = min((e for e in with_time if e.plan is top), key=lambda e: priority[e.id])
        assert segment is not None
        assert plan_on(timeline, day) is top
        assert segment.entitlement_id == first.id


@given(entitlement_lists)
def test_the_timeline_is_a_pure_function_of_its_input(entitlements: list[Entitlement]) -> None:
    first = build_timeline(entitlements)
    assert build_timeline(list(entitlements)) == first
    assert build_timeline(tuple(entitlements)) == first
    # Sorting by assignment day (ties kept in input order) changes nothing.
    assert build_timeline(sorted(entitlements, key=lambda e: e.assigned_on)) == first


@given(entitlement_lists, st.dates(min_value=d(2023, 6, 1), max_value=d(2045, 12, 31)))
def test_queries_agree_with_the_segments(entitlements: list[Entitlement], day: date) -> None:
    timeline = build_timeline(entitlements)
    segment = current_segment(timeline, day)
    assert plan_on(timeline, day) is (segment.plan if segment else Plan.BASIC)
    later = queued_after(timeline, day)
    assert all(s.start > day for s in later)
    days_after_today = sum(s.days for s in later)
    assert days_left_on(timeline, day) == days_after_today + ((segment.end - day).days if segment else 0)
    if segment:
        end = covered_until(timeline, day)
        plan_end = term_end_for_plan_on(timeline, day)
        assert end is not None and plan_end is not None
        assert segment.end <= plan_end <= end <= paid_through(timeline)  # type: ignore[operator]
        assert all(plan_on(timeline, x) is segment.plan for x in (day, plan_end - timedelta(days=1)))
        assert plan_on(timeline, end) is Plan.BASIC
