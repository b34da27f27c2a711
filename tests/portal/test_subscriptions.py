"""Subscription Overview and Buy online with the sandbox payment gateway."""

import pytest

from portal.extensions import db
from portal.models import ActivationCode, CompanyKind, Entitlement, LicenseOrder
from portal.services.clock import clock
from portal.services.licensing import entitlements
from portal.services.licensing.payments import luhn_valid
from tests.portal.factories import login, make_device, make_user, share

CARD = {"card_holder": "Ada Martin", "card_number": "4242 4242 4242 4242", "card_expiry": "12/30", "card_cvc": "123"}


@pytest.fixture
def owned(app):
    owner = make_user()
    devices = [make_device(owner) for _ in range(3)]
    entitlements.start_trial(devices[0], today=clock().today(), now=clock().now())
    db.session.commit()
    return owner, devices


def test_overview_lists_devices_soonest_expiry_first(client, owned):
    owner, devices = owned
    login(client, owner)
    page = client.get("/subscriptions").get_data(as_text=True)
    # Devices without a subscription (Basic) come first, then the trial device.
    assert page.index(devices[1].serial) < page.index(devices[0].serial)
    assert "Basic: no subscription" in page and "Subscribed" in page


def test_overview_shows_renewal_due_as_the_lab_clock_moves(client, owned):
    owner, devices = owned
    login(client, owner)
    client.post("/lab/clock", data={"days": "120"})
    assert "Renewal due in" in client.get("/subscriptions").get_data(as_text=True)


def test_buy_online_charges_and_assigns_at_once(client, owned, app):
    owner, devices = owned
    login(client, owner)
    form = {"device": [str(devices[0].id), str(devices[1].id)], f"sku-{devices[0].id}": "SCSTD1Y", f"sku-{devices[1].id}": "SCADV3Y", **CARD}
    page = client.get(f"/subscriptions/buy?device={devices[0].id}&device={devices[1].id}&sku-{devices[1].id}=SCADV3Y").get_data(as_text=True)
    assert "EUR 408.00" in page  # 79.00 + 329.00 from the price list
    response = client.post("/subscriptions/buy", data=form)
    assert response.status_code == 303
    assert "accepted" in client.get("/subscriptions").get_data(as_text=True)
    gateway = app.extensions["upsconnect.payments"]
    assert [str(c.amount) for c in gateway.charges] == ["408.00"]
    # The trial device's year is appended after its trial; the other starts Advanced today.
    trial, year = entitlements.device_timeline(devices[0]).segments
    assert (year.plan.key, year.start) == ("standard", trial.end)
    assert entitlements.current_plan(devices[1], clock().today()).key == "advanced"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"card_number": "4000 0000 0000 0002"}, "Your card was declined."),
        ({"card_number": "4000 0000 0000 9995"}, "insufficient funds"),
        ({"card_number": "4242 4242 4242 4241"}, "not valid"),
        ({"card_number": "4111 1111 1111 1111"}, "accepts only its test cards"),
        ({"card_expiry": "01/20"}, "This card has expired."),
        ({"card_expiry": "13/30"}, "MM/YY"),
        ({"card_cvc": "1"}, "security code"),
        ({"card_holder": ""}, "name on the card"),
    ],
)
def test_refused_payments_change_nothing(client, owned, app, changes, message):
    owner, devices = owned
    login(client, owner)
    response = client.post("/subscriptions/buy", data={"device": [str(devices[1].id)], f"sku-{devices[1].id}": "SCSTD1Y", **CARD, **changes})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(LicenseOrder.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Entitlement.id))) == 1  # the trial only
    assert app.extensions["upsconnect.payments"].charges == []
    assert 'value="Ada Martin"' in response.get_data(as_text=True) or changes.get("card_holder") == ""


def test_buying_for_a_device_of_another_company_is_404(client, owned):
    _, devices = owned
    login(client, make_user())
    assert client.get(f"/subscriptions/buy?device={devices[0].id}").status_code == 404
    response = client.post("/subscriptions/buy", data={"device": [str(devices[0].id)], **CARD})
    assert response.status_code == 404
    assert db.session.scalar(db.select(db.func.count(ActivationCode.id))) == 0


def test_partner_may_buy_for_a_shared_device(client, owned):
    owner, devices = owned
    partner = make_user(CompanyKind.PARTNER)
    share(devices[2], partner)
    login(client, partner)
    assert devices[2].serial in client.get("/subscriptions").get_data(as_text=True)
    assert devices[0].serial not in client.get("/subscriptions").get_data(as_text=True)
    response = client.post("/subscriptions/buy", data={"device": [str(devices[2].id)], f"sku-{devices[2].id}": "SCSTD5Y", **CARD})
    assert response.status_code == 303
    assert entitlements.current_plan(devices[2], clock().today()).key == "standard"


def test_cart_partial_reprices_without_card_details(client, owned):
    owner, devices = owned
    login(client, owner)
    body = client.get(
        f"/subscriptions/buy?partial=cart&device={devices[1].id}&sku-{devices[1].id}=SCADV5Y", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert body.lstrip().startswith('<div id="cart"') and "EUR 499.00" in body and "card_number" not in body


def test_no_device_selected(client, owned):
    login(client, owned[0])
    response = client.get("/subscriptions/buy")
    assert response.status_code == 422 and "Select at least one device" in response.get_data(as_text=True)


@pytest.mark.parametrize(("number", "valid"), [("4242424242424242", True), ("4242424242424241", False), ("79927398713", True)])
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get("/subscriptions").status_code == 302
    assert client.get("/subscriptions/buy").status_code == 302
    assert client.post("/subscriptions/buy", data=CARD).status_code == 302

