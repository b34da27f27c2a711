"""Claiming a device by serial and the code on its LCD, and removing it."""

from datetime import date

import pytest

from devicelink.provisioning import claim_code
from portal.extensions import db
from portal.models import CompanyKind, Entitlement
from portal.services.clock import clock
from tests.portal.factories import login, make_device, make_user, share

FACTORY_KEY = b"test-factory-key"


def _claim(client, serial, code):
    return client.post("/devices/claim", data={"serial": serial, "code": code})


def test_claim_with_the_lcd_code_starts_the_trial(client):
    device = make_device(serial="AS2611000001")
    login(client, make_user())
    response = _claim(client, " as2611000001 ", claim_code(FACTORY_KEY, "AS2611000001").lower())
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "Its 6-month Standard trial has started." in page
    assert 'id="plan">Standard<' in page
    db.session.refresh(device)
    assert device.trial_started_on == clock().today()
    assert device.battery_warranty_ends_on is not None  # lead-acid bonus year


@pytest.mark.parametrize(
    ("serial", "code", "message"),
    [
        ("", "ABCD-EFGH", "Enter the serial number"),
        ("AS26-11!", "ABCD-EFGH", "is not a Smart-UPS serial number"),
        ("AS2611000001", "", "Enter the registration code"),
        ("AS2699999999", "ABCD-EFGH", "has connected to upsconnect yet"),
        ("AS2611000001", "ABCD-EFGH", "does not match the one on the device"),
    ],
)
def test_claim_errors_are_clear_and_change_nothing(client, serial, code, message):
    device = make_device(serial="AS2611000001")
    login(client, make_user())
    response = _claim(client, serial, code)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.refresh(device)
    assert device.owner_company_id is None and device.trial_started_on is None


def test_a_device_owned_by_another_company_cannot_be_claimed(client):
    owner = make_user()
    device = make_device(owner, serial="AS2611000002")
    login(client, make_user())
    response = _claim(client, device.serial, claim_code(FACTORY_KEY, device.serial))
    assert response.status_code == 422
    assert "registered to another account" in response.get_data(as_text=True)
    assert db.session.get(type(device), device.id).owner_company_id == owner.company_id


def test_removed_device_claimed_again_gets_no_new_trial(client):
    first = make_user()
    device = make_device(serial="AS2611000003")
    login(client, first)
    _claim(client, device.serial, claim_code(FACTORY_KEY, device.serial))
    partner = make_user(CompanyKind.PARTNER)
    share(device, partner)
    response = client.post(f"/devices/{device.id}/remove")
    assert response.status_code == 303
    db.session.refresh(device)
    assert device.owner_company_id is None
    client.post("/logout")
    login(client, make_user())
    response = _claim(client, device.serial, claim_code(FACTORY_KEY, device.serial))
    # The first registration's trial still runs: the new owner is told so, not that it starts on Basic.
    page = client.get(response.location).get_data(as_text=True)
    assert "Its Standard trial from an earlier registration continues until" in page
    assert "starts on the Basic plan" not in page
    assert db.session.scalar(db.select(db.func.count(Entitlement.id))) == 1
    # The partner's share ended with the removal.
    client.post("/logout")
    login(client, partner)
    assert client.get(f"/devices/{device.id}").status_code == 404


def test_qr_link_fills_the_form_but_does_not_claim(client):
    device = make_device(serial="AS2611000004")
    login(client, make_user())
    page = client.get(f"/devices/claim?serial={device.serial}&code=ABCD-EFGH").get_data(as_text=True)
    assert 'value="AS2611000004"' in page and 'value="ABCD-EFGH"' in page
    assert db.session.get(type(device), device.id).owner_company_id is None


def test_claiming_is_rate_limited(client):
    make_device(serial="AS2611000005")
    login(client, make_user())
    statuses = [_claim(client, "AS2611000005", "ABCD-EFGH").status_code for _ in range(11)]
    assert statuses[:10] == [422] * 10 and statuses[10] == 429


def test_only_the_owner_may_remove(client):
    owner, partner = make_user(), make_user(CompanyKind.PARTNER)
    device = make_device(owner)
    share(device, partner)
    login(client, partner)
    assert client.post(f"/devices/{device.id}/remove").status_code == 404
    assert db.session.get(type(device), device.id).owner_company_id == owner.company_id


@pytest.mark.parametrize("who", ["owner", "partner", "stranger", "anonymous"])
def test_device_page_access(client, who):
    owner, partner, stranger = make_user(), make_user(CompanyKind.PARTNER), make_user(CompanyKind.PARTNER)
    device = make_device(owner)
    share(device, partner)
    if who != "anonymous":
        login(client, {"owner": owner, "partner": partner, "stranger": stranger}[who])
    response = client.get(f"/devices/{device.id}")
    expected = {"owner": 200, "partner": 200, "stranger": 404, "anonymous": 302}[who]
    assert response.status_code == expected
    if who == "stranger":
        assert device.serial not in response.get_data(as_text=True)
    assert client.get("/devices/999999").status_code in (404, 302)


def test_trial_dates_use_the_lab_clock(client):
    make_device(serial="AS2611000006")
    login(client, make_user())
    client.post("/lab/clock", data={"days": "100"})
    _claim(client, "AS2611000006", claim_code(FACTORY_KEY, "AS2611000006"))
    entitlement = db.session.scalar(db.select(Entitlement))
    assert entitlement.assigned_on == clock().today() and entitlement.assigned_on > date.today()


def test_a_serial_whose_trial_ended_is_claimed_again_on_basic(client):
    device = make_device(serial="AS2611000009")
    first = make_user()
    login(client, first)
    _claim(client, device.serial, claim_code(FACTORY_KEY, device.serial))
    client.post(f"/devices/{device.id}/remove")
    client.post("/lab/clock", data={"days": "200"})  # the trial has ended
    client.post("/logout")
    login(client, make_user())
    response = _claim(client, device.serial, claim_code(FACTORY_KEY, device.serial))
    assert "This serial had its trial before, so it starts on the Basic plan." in client.get(response.location).get_data(as_text=True)
