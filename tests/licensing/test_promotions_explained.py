"""The buy page, the payment confirmation and the device's timeline say which promotion added what months.

The app clock is fixed inside (and then after) the promotion's window, so these tests do not depend on today.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from portal.extensions import db
from portal.services.licensing import entitlements
from portal.services.licensing.products import sellable_product_for_sku
from portal.services.licensing.promotions import activation_bonus, parse_promotions
from tests.portal.factories import login, make_device, make_user

CARD = {"card_holder": "Ada Martin", "card_number": "4242 4242 4242 4242", "card_expiry": "12/35", "card_cvc": "123"}


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.date()

    def retention_cutoff(self, window):
        return self._now - window


PROMO = parse_promotions(
    """
[[promotion]]
name = "Spring promotion"
starts_on = 2030-03-01
ends_on = 2030-05-31
plan = "advanced"
[promotion.bonus_months_by_term_years]
1 = 3
3 = 6
"""
)


@pytest.mark.parametrize(
    ("sku", "on", "expected"),
    [
        ("SCADV1Y", date(2030, 3, 1), ("Spring promotion", 3)),
        ("SCADV3Y", date(2030, 5, 31), ("Spring promotion", 6)),
        ("SCADV5Y", date(2030, 4, 1), None),
        ("SCSTD1Y", date(2030, 4, 1), None),
        ("SCADV1Y", date(2030, 6, 1), None),
    ],
)
def test_which_promotion_adds_what(sku, on, expected):
    bonus = activation_bonus(sellable_product_for_sku(sku), on, PROMO)
    assert (bonus.promotion, bonus.months) == expected if expected else bonus is None


@pytest.fixture
def inside_the_window(app):
    app.extensions["upsconnect.clock"] = FixedClock(datetime(2027, 3, 1, 12, 0))  # shipped promotion: to 30 Jun 2027
    owner = make_user()
    device = make_device(owner)
    db.session.commit()
    return owner, device


def test_buy_page_confirmation_and_timeline_name_the_promotion(client, inside_the_window):
    owner, device = inside_the_window
    login(client, owner)
    page = client.get(f"/subscriptions/buy?device={device.id}&sku-{device.id}=SCADV1Y").get_data(as_text=True)
    assert "Advanced plan promotion: +3 free months: runs 15 months (12 + 3 free), activated today" in page
    assert "the promotion runs until 30 Jun 2027" in page
    three = client.get(f"/subscriptions/buy?device={device.id}&sku-{device.id}=SCADV3Y").get_data(as_text=True)
    assert "runs 42 months (36 + 6 free)" in three
    standard = client.get(f"/subscriptions/buy?device={device.id}&sku-{device.id}=SCSTD1Y").get_data(as_text=True)
    assert "Runs 12 months." in standard and "free month" not in standard
    paid = client.post(
        "/subscriptions/buy", data={"device": str(device.id), f"sku-{device.id}": "SCADV1Y", **CARD}, follow_redirects=True
    )
    text = paid.get_data(as_text=True)
    assert f"{device.serial}: Advanced plan, 1 year: runs 15 months, 12 bought and 3 free from the Advanced plan promotion." in text
    timeline = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert '<span class="muted promotion">Advanced plan promotion: +3 free months</span>' in timeline
    assert entitlements.device_standing(device, date(2027, 3, 1)).covered_until == date(2028, 6, 1)


def test_after_the_window_the_buy_page_promises_no_free_months(app, client, inside_the_window):
    owner, device = inside_the_window
    app.extensions["upsconnect.clock"] = FixedClock(datetime(2027, 7, 1, 12, 0))
    login(client, owner)
    page = client.get(f"/subscriptions/buy?device={device.id}&sku-{device.id}=SCADV1Y").get_data(as_text=True)
    assert "Runs 12 months." in page and "free month" not in page
