"""The replacement logbook: a new battery resets the install date, the replace-by dates and the health
baseline; partners with a share can record one; bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import BatteryReplacement, Device
from portal.services.clock import clock
from portal.services.fleet.battery_life import battery_replace_by
from tests.battery.test_pages_and_alerts import _outages, _owned
from tests.portal.factories import CompanyKind, login, make_user, share


def _record(client, device, **fields):
    data = {"replaced_on": clock().today().isoformat(), "sku": "APCRBC7", "note": "", **fields}
    return client.post(f"/devices/{device.id}/battery-replacements", data=data)


def test_a_replacement_resets_install_date_replace_by_and_health(app, client):
    owner = make_user()
    device = _owned(owner)
    _outages(device, [0.66, 0.64, 0.62])
    login(client, owner)
    before = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert 'id="battery-health-figure" class="health-low"' in before
    today = clock().today()
    response = _record(client, device, note="Cartridge swapped by Claire")
    assert response.status_code == 303 and response.headers["Location"].endswith("#battery-logbook")
    db.session.expire_all()
    assert db.session.get(Device, device.id).battery_installed_on == today
    html = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert "Not enough data yet" in html.split('id="battery-health-figure"')[1][:40]
    assert "previous battery" in html and "APCRBC7" in html and "Cartridge swapped by Claire" in html
    # The age-based date follows the new install date, even where the UPS still reports the old one.
    old = {"battery.date": "2022-01-01", "battery.date.maintenance": "2026-06-01"}
    assert battery_replace_by(device.model, today, old) == battery_replace_by(device.model, today, None)
    assert battery_replace_by(device.model, today, None) > today + timedelta(days=365 * 4)
    # MyInventory no longer carries the old battery's figure.
    row = client.get("/reports/inventory.csv").get_data(as_text=True).splitlines()[1]
    assert row.endswith(",,")


def test_the_history_stays_and_the_newest_counts(app, client):
    owner = make_user()
    device = _owned(owner)
    login(client, owner)
    today = clock().today()
    assert _record(client, device, replaced_on=(today - timedelta(days=900)).isoformat(), sku="apcrbc7").status_code == 303
    assert _record(client, device, sku="APCRBC124").status_code == 303
    rows = db.session.scalars(select(BatteryReplacement).order_by(BatteryReplacement.replaced_on)).all()
    assert [r.sku for r in rows] == ["APCRBC7", "APCRBC124"]
    logbook = client.get(f"/devices/{device.id}").get_data(as_text=True).split('id="battery-replacements"')[1]
    assert logbook.index("APCRBC124") < logbook.index("APCRBC7")  # newest first


def test_bad_input_is_explained_and_changes_nothing(app, client):
    owner = make_user()
    device = _owned(owner)
    login(client, owner)
    today = clock().today()
    cases = [
        ({"replaced_on": ""}, "Enter the day the battery was replaced."),
        ({"replaced_on": "31/02/2026"}, "Not a valid date value."),
        ({"replaced_on": (today + timedelta(days=1)).isoformat()}, "in the future"),
        ({"sku": "RBC 7!"}, "such as APCRBC7"),
        ({"sku": ""}, "such as APCRBC7"),
        ({"note": "x" * 201}, "200 characters"),
    ]
    for fields, message in cases:
        response = _record(client, device, **fields)
        assert response.status_code == 422, fields
        assert message in response.get_data(as_text=True), fields
    assert db.session.scalars(select(BatteryReplacement)).all() == []
    _record(client, device)
    response = _record(client, device, replaced_on=(today - timedelta(days=3)).isoformat())
    assert response.status_code == 422 and "A later replacement" in response.get_data(as_text=True)
    assert len(db.session.scalars(select(BatteryReplacement)).all()) == 1


def test_a_partner_with_a_share_records_one_a_stranger_cannot(app, client):
    owner, partner, stranger = make_user(), make_user(CompanyKind.PARTNER), make_user(CompanyKind.PARTNER)
    device = _owned(owner)
    share(device, partner)
    login(client, stranger)
    assert _record(client, device).status_code == 404
    client.post("/logout")
    login(client, partner)
    assert _record(client, device).status_code == 303
    [row] = db.session.scalars(select(BatteryReplacement)).all()
    assert row.recorded_by_user_id == partner.id
