"""Renewal banners: one rule on the dashboard, the Subscription Overview and the device page."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest

from portal.extensions import db
from portal.services.clock import clock
from portal.services.licensing import entitlements
from portal.services.licensing.renewal_banners import RenewalCounts, classify, renewal_banners
from tests.portal.factories import login, make_device, make_user

TODAY = date(2027, 3, 1)


@pytest.mark.parametrize(
    ("covered_until", "trial", "expected"),
    [
        (None, False, RenewalCounts(on_basic=1)),
        (TODAY, False, RenewalCounts(on_basic=1)),  # the end is exclusive: today is already Basic
        (TODAY + timedelta(days=1), True, RenewalCounts(renewal_due=1, trial_ending=1)),
        (TODAY + timedelta(days=30), True, RenewalCounts(renewal_due=1, trial_ending=1)),
        (TODAY + timedelta(days=31), True, RenewalCounts(renewal_due=1)),
        (TODAY + timedelta(days=30), False, RenewalCounts(renewal_due=1)),
        (TODAY + timedelta(days=90), False, RenewalCounts(renewal_due=1)),
        (TODAY + timedelta(days=91), False, RenewalCounts()),
    ],
)
def test_the_rule_for_one_device(covered_until, trial, expected):
    assert classify(covered_until, trial, TODAY) == expected


@pytest.mark.parametrize(
    ("counts", "text"),
    [
        (RenewalCounts(renewal_due=1), "1 device reaches the end of its subscription within 90 days."),
        (RenewalCounts(renewal_due=2), "2 devices reach the end of their subscription within 90 days."),
        (RenewalCounts(trial_ending=1), "1 device will drop to the Basic plan within 30 days."),
        (RenewalCounts(on_basic=1), "1 device has no subscription"),
        (RenewalCounts(on_basic=3), "3 devices have no subscription"),
    ],
)
def test_fleet_wording_agrees_in_number(counts, text):
    assert text in " ".join(b.text for b in renewal_banners(counts))


def _move_clock(client, days: int) -> None:
    assert client.post("/lab/clock", data={"days": str(days)}).status_code == 303


def _banner_texts(page: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", text)).strip() for text in re.findall(r'<div class="banner [^"]*" role="status" data-kind="[a-z_]+">(.*?)</div>', page, re.S)]


@pytest.fixture
def fleet(app):
    """One device on its trial, one whose trial ended long ago (on Basic), one never subscribed."""
    owner = make_user()
    running, lapsed, never = make_device(owner), make_device(owner), make_device(owner)
    today, now = clock().today(), clock().now()
    entitlements.start_trial(running, today=today, now=now)
    entitlements.start_trial(lapsed, today=today - timedelta(days=400), now=now - timedelta(days=400))
    db.session.commit()
    trial_end = entitlements.device_standing(running, today).covered_until
    return owner, running, lapsed, never, (trial_end - today).days


def test_dashboard_overview_and_device_page_count_renewals_alike(client, fleet):
    owner, running, lapsed, never, days_left = fleet
    login(client, owner)
    _move_clock(client, days_left - 52)  # 52 days before the trial ends, as the issue checked
    dashboard = _banner_texts(client.get("/dashboard").get_data(as_text=True))
    overview = _banner_texts(client.get("/subscriptions").get_data(as_text=True))
    expected_due = "Renewal due: 1 device reaches the end of its subscription within 90 days."
    assert any(t.startswith(expected_due) for t in dashboard), dashboard
    assert any(t.startswith(expected_due) for t in overview), overview
    assert any(t.startswith("On Basic: 2 devices have no subscription") for t in dashboard + overview), (dashboard, overview)
    assert 'data-mode="renewal">\n    <span class="tile-count">1</span>' in client.get("/dashboard").get_data(as_text=True)
    device_page = _banner_texts(client.get(f"/devices/{running.id}").get_data(as_text=True))
    end = (clock().today() + timedelta(days=52)).strftime("%d %b %Y")
    assert device_page and device_page[0].startswith(f"Renewal due: This device's subscription ends on {end} (in 52 days)."), device_page
    assert "Renew" in device_page[0]


def test_device_page_says_trial_ending_and_then_on_basic(client, fleet):
    owner, running, lapsed, never, days_left = fleet
    login(client, owner)
    _move_clock(client, days_left - 10)
    texts = _banner_texts(client.get(f"/devices/{running.id}").get_data(as_text=True))
    end = (clock().today() + timedelta(days=10)).strftime("%d %b %Y")
    assert texts[0].startswith(f"Trial ending: This device's Standard trial ends on {end} (in 10 days); it then drops to the Basic plan.")
    _move_clock(client, 10)  # the day the trial ends: the device falls to Basic
    texts = _banner_texts(client.get(f"/devices/{running.id}").get_data(as_text=True))
    assert texts == [f"On Basic: This device's subscription ended on {end}: status view only, no alerts, no remote actions. Choose a plan"]
    never_texts = _banner_texts(client.get(f"/devices/{never.id}").get_data(as_text=True))
    assert never_texts[0].startswith("On Basic: This device has no subscription")


def test_a_subscribed_device_far_from_its_end_shows_no_banner(client, fleet):
    owner, running, *_ = fleet
    login(client, owner)
    assert _banner_texts(client.get(f"/devices/{running.id}").get_data(as_text=True)) == []


def test_the_sql_and_python_forms_agree_day_by_day(client, fleet):
    """The dashboard counts in SQL, the overview in Python: on every edge day they say the same."""
    owner, running, lapsed, never, days_left = fleet
    login(client, owner)
    moved = 0
    for day in (days_left - 91, days_left - 90, days_left - 31, days_left - 30, days_left - 1, days_left):
        _move_clock(client, day - moved)
        moved = day
        dashboard = [t.removesuffix(" Renew").removesuffix(" Extend monitoring").removesuffix(" Choose a plan")
                     for t in _banner_texts(client.get("/dashboard").get_data(as_text=True))]
        assert dashboard == _banner_texts(client.get("/subscriptions").get_data(as_text=True)), day
