"""The battery estimator on discharges made by the simulator's physics, and its properties."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.ups_models import model_spec
from portal.services.battery.capacity import measure
from portal.services.battery.episodes import find_episodes
from portal.services.battery.estimate import NOT_ENOUGH_DATA, HealthPoint, estimate
from tests.battery.discharge_lab import discharge


def _measured(samples, model="SMT1500IC"):
    [episode], running = find_episodes(samples)
    assert running is None
    return episode, measure(episode, model_spec(model))


@pytest.mark.parametrize(
    ("model", "capacity", "load", "ambient"),
    [
        ("SMT1500IC", 1.0, 50, 25),
        ("SMT1500IC", 0.8, 30, 25),
        ("SMT750IC", 0.65, 70, 22),
        ("SMT3000IC", 0.5, 40, 38),  # a heat wave: the warm battery delivers more, the estimate corrects
        ("SMC1500IC", 0.9, 15, 30),
    ],
)
def test_one_discharge_shows_the_model_capacity(model, capacity, load, ambient):
    episode, m = _measured(discharge(model, capacity=capacity, load_percent=load, ambient_c=ambient), model)
    assert episode.kind == "outage" and episode.ended_by == "line"
    assert m.health == pytest.approx(capacity, rel=0.04)
    assert m.start_charge_percent > 90.0 and m.end_charge_percent < m.start_charge_percent - 5
    assert m.energy_wh == pytest.approx(model_spec(model).w_rating * load / 100 * m.duration_s / 3600, rel=0.02)


def test_a_short_blip_is_recorded_but_measures_nothing():
    _, m = _measured(discharge(minutes=1, interval_s=20))
    assert m.health is None and m.measured_runtime_s is None


def test_runtime_prediction_error_shows_a_firmware_that_believes_in_a_newer_battery():
    # The firmware last calibrated when the battery had 90 %; it now has 60 %: it promises half as much again.
    _, m = _measured(discharge(capacity=0.6, firmware_capacity=0.9))
    assert m.predicted_runtime_s / m.measured_runtime_s - 1 == pytest.approx(0.5, abs=0.05)


def test_no_measured_discharge_says_so_plainly():
    result = estimate([], replace_below=0.6)
    assert result.health is None and result.summary == NOT_ENOUGH_DATA
    assert "Not enough data yet" in result.replace_by_note


def test_a_steady_decline_predicts_where_it_reaches_the_limit():
    start = date(2026, 1, 1)
    points = [HealthPoint(start + timedelta(days=90 * i), 0.95 - 0.05 * i) for i in range(5)]
    result = estimate(points, replace_below=0.6)
    assert result.slope_per_year == pytest.approx(-0.05 * 365.25 / 90, rel=1e-6)
    # The figure averages the last three (0.85, 0.80, 0.75); the line is at 0.75 on the last day and
    # loses 0.05 every 90 days: the 0.6 limit 270 days later.
    assert result.health == pytest.approx(0.80)
    assert result.trend_now == pytest.approx(0.75)
    assert result.replace_by == start + timedelta(days=360 + 270)


def test_three_discharges_in_a_week_give_a_figure_but_no_trend_yet():
    day = date(2026, 3, 1)
    result = estimate([HealthPoint(day + timedelta(days=i), 0.8) for i in range(3)], replace_below=0.6)
    assert result.health == pytest.approx(0.8) and result.replace_by is None
    assert result.replace_by_note.startswith("Not enough data yet for a trend")


@settings(max_examples=25, deadline=None)
@given(
    load=st.floats(min_value=10, max_value=100),
    ambient=st.floats(min_value=10, max_value=40),
    minutes=st.floats(min_value=3, max_value=12),
    interval=st.sampled_from([10.0, 20.0, 30.0, 60.0]),
    model=st.sampled_from(["SMT750IC", "SMT1500IC", "SMT3000IC", "SMC1000IC"]),
)
def test_a_new_battery_never_shows_more_than_new(load, ambient, minutes, interval, model):
    samples = discharge(model, capacity=1.0, load_percent=load, ambient_c=ambient, minutes=minutes, interval_s=interval)
    episodes, _ = find_episodes(samples)
    points = []
    for episode in episodes:
        m = measure(episode, model_spec(model))
        if m.health is not None:
            assert m.health <= 1.0
            assert m.health >= 0.9
            points.append(HealthPoint(episode.started_at.date(), m.health, m.charge_drop))
    result = estimate(points, replace_below=0.6)
    assert result.health is None or result.health <= 1.0


@settings(max_examples=200, deadline=None)
@given(
    healths=st.lists(st.floats(min_value=0.0, max_value=1.5), min_size=1, max_size=12),
    weights=st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=12, max_size=12),
    gaps=st.lists(st.integers(min_value=0, max_value=200), min_size=12, max_size=12),
)
def test_health_is_monotone_in_a_worsening_series(healths, weights, gaps):
    series = sorted(healths, reverse=True)  # each discharge shows no more capacity than the one before
    day, points, figures = date(2026, 1, 1), [], []
    for health, weight, gap in zip(series, weights, gaps, strict=False):
        day += timedelta(days=gap)
        points.append(HealthPoint(day, health, weight))
        figures.append(estimate(points, replace_below=0.6).health)
    assert all(0.0 <= f <= 1.0 for f in figures)
    assert all(later <= earlier + 1e-12 for earlier, later in zip(figures, figures[1:], strict=False))


@settings(max_examples=8, deadline=None)
@given(start=st.floats(min_value=0.7, max_value=1.0), step=st.floats(min_value=0.04, max_value=0.1))
def test_monotone_on_physics_discharges_of_an_ageing_battery(start, step):
    points, figures = [], []
    for i in range(4):
        samples = discharge(capacity=start - step * i, load_percent=60, minutes=8, start_s=1_780_000_000 + i * 86400 * 30)
        [episode], _ = find_episodes(samples)
        m = measure(episode, model_spec("SMT1500IC"))
        points.append(HealthPoint(episode.started_at.date(), m.health, m.charge_drop))
        figures.append(estimate(points, replace_below=0.6).health)
    assert all(later <= earlier for earlier, later in zip(figures, figures[1:], strict=False))
