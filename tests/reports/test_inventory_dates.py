"""MyInventory's Battery installed and Warranty expiry: the same dates the device page shows (one home)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from portal.extensions import db
from portal.models import DeviceStatus
from portal.services.fleet.device_dates import device_dates, factory_warranty_ends
from portal.services.licensing import entitlements
from tests.portal.factories import login, make_device, make_user


def _inventory(client) -> dict[str, dict[str, str]]:
    text = client.get("/reports/inventory.csv").get_data(as_text=True).lstrip("\ufeff")
    return {row["Serial number"]: row for row in csv.DictReader(io.StringIO(text))}


def test_a_device_that_reports_its_battery_date_fills_both_columns_as_its_page_does(app, client):
    owner = make_user()
    device = make_device(owner, serial="AS2600000101")
    entitlements.start_trial(device, today=date(2026, 2, 1), now=datetime(2026, 2, 1, 9, 0))
    db.session.add(DeviceStatus(device_id=device.id, online=True, last_seen_at=datetime(2026, 2, 1, 9, 0),
                                ups_status="OL", variables={"battery.date": "2025/11/04"}))
    db.session.commit()
    login(client, owner)
    row = _inventory(client)["AS2600000101"]
    assert row["Battery installed"] == "2025-11-04"
    assert row["Warranty expiry"] == "2029-02-01"  # 3-year factory warranty from the first registration
    page = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert '<dd id="battery-installed">04 Nov 2025</dd>' in page
    assert '<dd id="warranty">01 Feb 2029</dd>' in page


def test_stored_dates_win_over_reported_and_catalogue_ones():
    dates = device_dates(
        model="SMT1500C", variables={"battery.date": "2025-11-04"}, battery_installed_on=date(2026, 1, 5),
        battery_warranty_ends_on=None, warranty_ends_on=date(2027, 3, 31), registered_on=date(2026, 2, 1),
    )
    assert (dates.battery_installed_on, dates.warranty_ends_on) == (date(2026, 1, 5), date(2027, 3, 31))
    assert factory_warranty_ends("No such model", date(2026, 2, 1)) is None
    assert factory_warranty_ends("SMT1500C", None) is None
