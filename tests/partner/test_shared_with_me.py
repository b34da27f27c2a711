"""Shared With Me: grouped by customer, soonest renewal first, with plan, term and battery dates."""

from datetime import date, datetime

from portal.extensions import db
from portal.models import CompanyKind, DeviceStatus
from portal.services.calendar_dates import add_months
from portal.services.partners import shared_devices
from tests.partner.conftest import client_for, today, with_trial
from tests.portal.factories import make_device, make_user, share


def test_devices_are_grouped_by_customer_and_sorted_soonest_expiry_first(app, cast):
    late = with_trial(make_device(cast.owner, model="SMT2200C"), days_ago=10)
    soon = with_trial(make_device(cast.owner, model="SMT3000C"), days_ago=170)
    lapsed = make_device(cast.owner, model="SMC1000")  # never had a trial: Basic
    share(late, cast.partner)
    share(soon, cast.partner)
    share(lapsed, cast.partner)
    second = make_user(company="Zebra Clinics")
    theirs = with_trial(make_device(second, model="SMT1000C"), days_ago=100)
    share(theirs, cast.partner)

    groups = shared_devices.shared_with_me(cast.partner, today=today())
    assert [g.company.name for g in groups] == ["Harbour Data Centre", "Zebra Clinics"]
    assert [r.device.id for r in groups[0].rows] == [lapsed.id, soon.id, cast.device.id, late.id]
    assert groups[0].rows[0].renewal_state == "basic" and groups[0].rows[1].renewal_state == "due"
    assert groups[0].rows[1].term_ends_on == add_months(
        today() - __import__("datetime").timedelta(days=170), 6
    )

    page = client_for(app, cast.partner).get("/partner/shared").get_data(as_text=True)
    assert page.index("Harbour Data Centre") < page.index("Zebra Clinics")
    assert (
        page.index(lapsed.serial)
        < page.index(soon.serial)
        < page.index(cast.device.serial)
        < page.index(late.serial)
    )
    assert cast.other.serial not in page and cast.foreign.serial not in page
    assert 'name="device"' in page and "select-all" in page  # multi-select


def test_battery_replace_by_and_warranty_dates(app, cast):
    cast.device.battery_installed_on = date(2024, 5, 2)
    cast.device.warranty_ends_on = date(2027, 5, 2)
    db.session.commit()
    row = shared_devices.shared_with_me(cast.partner, today=today())[0].rows[0]
    assert row.battery_replace_by == date(2029, 5, 2)  # installed + the model's 5-year design life
    assert row.battery_warranty_ends_on == cast.device.battery_warranty_ends_on  # trial bonus year included
    assert row.warranty_ends_on == date(2027, 5, 2)
    db.session.add(
        DeviceStatus(
            device_id=cast.device.id,
            variables={"battery.date.maintenance": "2027-10-07"},
            **_status_defaults(),
        )
    )
    db.session.commit()
    row = shared_devices.shared_with_me(cast.partner, today=today())[0].rows[0]
    assert row.battery_replace_by == date(2027, 10, 7)  # the UPS's own date wins
    page = client_for(app, cast.partner).get("/partner/shared").get_data(as_text=True)
    assert "07 Oct 2027" in page and "02 May 2027" in page


def _status_defaults() -> dict:
    columns = {c.name for c in DeviceStatus.__table__.columns}
    values = {}
    for name in ("received_at", "updated_at", "last_seen_at", "reported_at"):
        if name in columns:
            values[name] = datetime(2026, 1, 1)
    return values


def test_htmx_partial_and_access(app, cast):
    partner = client_for(app, cast.partner)
    fragment = partner.get("/partner/shared", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="shared-groups"' in fragment and cast.device.serial in fragment
    page = client_for(app, cast.stranger).get("/partner/shared").get_data(as_text=True)
    assert "No customer has shared a device" in page and cast.device.serial not in page
    assert (
        client_for(app, cast.owner).get("/partner/shared").status_code == 404
    )  # customers have no such page
    response = client_for(app, None).get("/partner/shared")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_partner_coworker_sees_what_was_shared_with_its_company(app, cast):
    from portal.models import User

    coworker = User(
        company_id=cast.partner.company_id,
        email="second@volt.example",
        name="Second",
        password_hash=cast.partner.password_hash,
        created_at=datetime(2026, 1, 1),
    )
    db.session.add(coworker)
    db.session.commit()
    assert cast.device.serial in client_for(app, coworker).get("/partner/shared").get_data(as_text=True)
    assert make_user(CompanyKind.PARTNER).company_id != cast.partner.company_id
