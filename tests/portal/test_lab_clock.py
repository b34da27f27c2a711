"""The lab clock: moved forward and back from the lab page, shared through the database."""

from datetime import timedelta

import pytest

from portal.services.clock import LabClock, SystemClock, clock, utcnow
from tests.portal.factories import login, make_user


def test_lab_mode_uses_the_lab_clock(app):
    assert isinstance(clock(), LabClock)


def test_production_uses_the_real_clock(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, LAB_MODE=False)
    with app.app_context():
        assert isinstance(clock(), SystemClock)


@pytest.mark.parametrize(("action", "days"), [("1d", 1), ("7d", 7), ("30d", 30), ("90d", 90), ("365d", 365)])
def test_lab_page_moves_the_business_date(app, client, action, days):
    login(client, make_user())
    before = clock().today()
    response = client.post("/lab/clock", data={"action": action})
    assert response.status_code == 303
    assert clock().today() - before == timedelta(days=days)
    assert f"moved forward {days} days" in client.get("/lab/clock").get_data(as_text=True)


def test_lab_clock_goes_back_to_now_and_never_behind_it(app, client):
    login(client, make_user())
    client.post("/lab/clock", data={"days": "45"})
    assert clock().offset() == timedelta(days=45)
    client.post("/lab/clock", data={"days": "-100"})
    assert clock().offset() == timedelta(0)
    client.post("/lab/clock", data={"action": "90d"})
    client.post("/lab/clock", data={"action": "reset"})
    assert abs(clock().now() - utcnow()) < timedelta(seconds=5)


@pytest.mark.parametrize("days", ["soon", "1.5", "99999999"])
def test_bad_day_counts_get_a_message_and_change_nothing(app, client, days):
    login(client, make_user())
    client.post("/lab/clock", data={"days": days})
    assert clock().offset() == timedelta(0)
    page = client.get("/lab/clock").get_data(as_text=True)
    assert "whole number of days" in page or "at most 100 years" in page


def test_lab_clock_needs_sign_in(client):
    assert client.get("/lab/clock").status_code == 302
