"""Why it went to battery: the pure aggregation and the sensitivity advice rule."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from portal.services.battery import transfers as t
from portal.services.battery.transfers_query import classify_input, reason_from_text

START = datetime(2026, 11, 1)
END = datetime(2026, 12, 1)
REASONS = sorted(t.REASON_LABELS)


def _transfer(offset_s: float, seconds: float, reason: str) -> t.Transfer:
    begin = START + timedelta(seconds=offset_s)
    return t.Transfer(begin, begin + timedelta(seconds=seconds), reason)


transfer_lists = st.lists(
    st.builds(
        _transfer,
        st.floats(min_value=-5 * 86400, max_value=35 * 86400),
        st.floats(min_value=0, max_value=4 * 3600),
        st.sampled_from(REASONS),
    ),
    max_size=40,
)


@given(transfer_lists)
def test_counts_add_up_and_time_stays_inside_the_period(rows):
    s = t.summarize(rows, start=START, end=END)
    assert sum(s.by_reason.values()) == s.transfers == sum(START <= r.start < END for r in rows)
    assert 0 <= s.short_sensitive <= s.short <= s.transfers
    assert 0 <= s.seconds_on_battery <= sum(r.seconds for r in rows) + 1e-6
    assert s.seconds_on_battery <= (END - START).total_seconds() * max(len(rows), 1)
    assert abs(sum(s.seconds_by_reason.values()) - s.seconds_on_battery) < 1e-6


@given(transfer_lists, st.sampled_from(["normal", "reduced", "low", "", "weird"]))
def test_advice_only_for_mostly_short_sensitive_transfers_and_always_less_sensitive(rows, sensitivity):
    s = t.summarize(rows, start=START, end=END)
    advice = t.sensitivity_advice(s, sensitivity)
    if advice is not None:
        assert sensitivity in ("normal", "reduced")
        assert t.SENSITIVITY_ORDER.index(advice.suggested) == t.SENSITIVITY_ORDER.index(sensitivity) + 1
        assert s.short_sensitive * 2 > s.transfers - s.by_reason[t.SELF_TEST]


def test_a_transfer_running_at_the_start_counts_its_minutes_not_the_transfer():
    s = t.summarize([_transfer(-60, 120, t.BLACKOUT)], start=START, end=END)
    assert s.transfers == 0 and s.seconds_on_battery == 60


def test_mostly_short_notches_at_normal_suggest_reduced_with_the_figures():
    rows = [_transfer(i * 3600, 2, t.RATE_OF_CHANGE) for i in range(5)]
    rows += [_transfer(10 * 3600, 4, t.DISTORTION), _transfer(20 * 3600, 600, t.BLACKOUT)]
    rows += [_transfer(30 * 3600, 10, t.SELF_TEST)]  # self-tests are not the input's fault
    s = t.summarize(rows, start=START, end=END)
    assert (s.transfers, s.short, s.short_sensitive) == (8, 7, 6)
    advice = t.sensitivity_advice(s, "Normal")
    assert advice is not None and advice.suggested == "reduced"
    assert advice.reason.startswith("6 of 7 transfers lasted 10 s or less")
    assert "rate of change and distortion" in advice.reason
    assert t.sensitivity_advice(s, "reduced").suggested == "low"
    assert t.sensitivity_advice(s, "low") is None


def test_blackouts_or_long_notches_get_no_advice():
    blackouts = [_transfer(i * 3600, 2, t.BLACKOUT) for i in range(5)]
    assert t.sensitivity_advice(t.summarize(blackouts, start=START, end=END), "normal") is None
    long_notches = [_transfer(i * 3600, 30, t.RATE_OF_CHANGE) for i in range(5)]
    assert t.sensitivity_advice(t.summarize(long_notches, start=START, end=END), "normal") is None
    assert t.sensitivity_advice(t.summarize([], start=START, end=END), "normal") is None


def test_reasons_from_the_apc_wording_and_the_measured_input():
    assert reason_from_text("UPS: On battery power in response to rapid change of input.") == t.RATE_OF_CHANGE
    assert reason_from_text("UPS: On battery power in response to distorted input.") == t.DISTORTION
    assert reason_from_text("UPS: On battery power in response to an input power problem.") == t.INPUT_PROBLEM
    assert classify_input(0.0, 0.0, 230) == t.BLACKOUT
    assert classify_input(160.0, 50.0, 230) == t.LOW_VOLTAGE
    assert classify_input(285.0, 50.0, 230) == t.HIGH_VOLTAGE
    assert classify_input(230.0, 44.0, 230) == t.FREQUENCY
    assert classify_input(None, None, 230) == t.INPUT_PROBLEM
