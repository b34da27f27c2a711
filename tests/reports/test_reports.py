"""MyInventory and MyRenewals: who may download them, and what they contain, read back as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import openpyxl
import pytest

from portal.extensions import db
from portal.models import Device, DeviceStatus, SubscriptionSegment
from portal.services.fleet.battery_life import battery_replace_by
from portal.services.fleet.device_dates import factory_warranty_ends, registered_on
from portal.services.reports.my_reports import INVENTORY_COLUMNS, RENEWALS_COLUMNS
from tests.portal.factories import login

URLS = [
    "/reports/inventory.csv",
    "/reports/inventory.xlsx",
    "/reports/renewals.csv",
    "/reports/renewals.xlsx",
]


def read_csv(response) -> list[dict[str, str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def read_xlsx(response) -> list[dict[str, object]]:
    workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def as_day(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(value) if value else None


def test_signed_out_visitors_are_sent_to_sign_in(client, fleet):
    for url in ["/reports/", *URLS, "/reports/outages", "/reports/outages.csv", "/reports/outages.xlsx"]:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_index_shows_the_downloads_and_device_count(client, fleet):
    login(client, fleet.owner)
    page = client.get("/reports/").get_data(as_text=True)
    assert '<strong id="device-count">3 devices</strong>' in page
    for url in URLS:
        assert url in page


def test_partner_index_lists_its_customers(client, fleet):
    login(client, fleet.partner)
    page = client.get("/reports/").get_data(as_text=True)
    assert '<strong id="device-count">2 devices</strong>' in page
    assert "Acme Hospital" in page and f"customer={fleet.owner.company_id}" in page
    assert "Other Customer" not in page


def test_stranger_index_is_empty(client, fleet):
    login(client, fleet.stranger)
    page = client.get("/reports/").get_data(as_text=True)
    assert '<strong id="device-count">0 devices</strong>' in page and "Acme Hospital" not in page


@pytest.mark.parametrize("url", URLS)
def test_owner_downloads_cover_its_own_devices_only(client, fleet, url):
    login(client, fleet.owner)
    response = client.get(url)
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response) if url.endswith(".csv") else read_xlsx(response)
    assert [r["Serial number"] for r in rows] == [
        "AS2600000003",
        "AS2600000001",
        "AS2600000002",
    ]  # by customer, model, serial
    assert {r["Customer"] for r in rows} == {"Acme Hospital"}


@pytest.mark.parametrize("url", URLS)
def test_partner_downloads_cover_shared_devices_with_a_customer_column(client, fleet, url):
    login(client, fleet.partner)
    response = client.get(url)
    rows = read_csv(response) if url.endswith(".csv") else read_xlsx(response)
    assert sorted(r["Serial number"] for r in rows) == ["AS2600000001", "AS2600000002"]
    assert {r["Customer"] for r in rows} == {"Acme Hospital"}
    scoped = client.get(f"{url}?customer={fleet.owner.company_id}")
    assert scoped.status_code == 200


@pytest.mark.parametrize("url", URLS)
def test_a_partner_without_the_share_gets_nothing_of_the_owner(client, fleet, url):
    login(client, fleet.stranger)
    assert client.get(f"{url}?customer={fleet.owner.company_id}").status_code == 404
    assert client.get(f"{url}?customer=abc").status_code == 404
    response = client.get(url)  # its own (empty) report: the header only
    rows = read_csv(response) if url.endswith(".csv") else read_xlsx(response)
    assert rows == []


def test_other_customers_cannot_scope_to_someone_else(client, fleet):
    login(client, fleet.other_customer)
    for url in [*URLS, "/reports/outages", "/reports/outages.csv", "/reports/outages.xlsx"]:
        assert client.get(f"{url}?customer={fleet.owner.company_id}").status_code == 404, url


def test_inventory_xlsx_matches_the_database(client, fleet):
    login(client, fleet.owner)
    rows = read_xlsx(client.get("/reports/inventory.xlsx"))
    assert list(rows[0]) == [c.header for c in INVENTORY_COLUMNS]
    by_serial = {r["Serial number"]: r for r in rows}
    for device in db.session.scalars(
        db.select(Device).where(Device.owner_company_id == fleet.owner.company_id)
    ):
        row = by_serial[device.serial]
        status = db.session.get(DeviceStatus, device.id)
        variables = status.variables if status else {}
        assert row["Model"] == device.model
        assert (row["Name"] or "") == device.name and (row["Site"] or "") == device.site
        assert row["Load (%)"] == (float(variables["ups.load"]) if "ups.load" in variables else None)
        assert row["Battery charge (%)"] == (
            float(variables["battery.charge"]) if "battery.charge" in variables else None
        )
        assert row["Internal temperature (°C)"] == (
            float(variables["ups.temperature"]) if "ups.temperature" in variables else None
        )
        term_end = db.session.scalar(
            db.select(db.func.max(SubscriptionSegment.end)).where(SubscriptionSegment.device_id == device.id)
        )
        assert as_day(row["Subscription expiry"]) == term_end == date(2027, 3, 1)
        assert row["Plan"] == "Standard"
        assert as_day(row["Battery installed"]) == device.battery_installed_on
        assert as_day(row["Battery replace by"]) == battery_replace_by(
            device.model, device.battery_installed_on, variables
        )
        assert as_day(row["Battery warranty expiry"]) == device.battery_warranty_ends_on
        # Stored warranty dates win; otherwise the factory warranty from the first registration (one rule).
        assert as_day(row["Warranty expiry"]) == (
            device.warranty_ends_on
            or factory_warranty_ends(device.model, registered_on(device.trial_started_on, device.claimed_at))
        )
    a, b = by_serial["AS2600000001"], by_serial["AS2600000002"]
    assert (a["Load (%)"], a["Battery charge (%)"], a["Internal temperature (°C)"]) == (23.0, 100.0, 31.5)
    assert as_day(a["Battery replace by"]) == date(2027, 6, 15)  # reported by the UPS
    assert as_day(b["Battery replace by"]) == date(2027, 1, 10)  # installed 2022-01-10 + 5-year design life
    assert by_serial["AS2600000003"]["Battery replace by"] is None  # nothing known
    assert a["Replacement battery SKU"] == "APCRBC7" and b["Replacement battery SKU"] == "APCRBC55"
    assert (
        a["Warranty extension SKU"] == "WBEXTWAR1YR-SP-01"
        and b["Warranty extension SKU"] == "WBEXTWAR1YR-SP-02"
    )
    assert a["Firmware status"].startswith("Update available") and b["Firmware status"] == "Up to date"
    assert b["Name"] == '=HYPERLINK("x")'  # kept as text, never a formula
    assert isinstance(as_day(a["Warranty expiry"]), date)


def test_inventory_csv_neutralises_formulas_and_uses_iso_dates(client, fleet):
    login(client, fleet.owner)
    rows = {r["Serial number"]: r for r in read_csv(client.get("/reports/inventory.csv"))}
    assert rows["AS2600000002"]["Name"] == '\'=HYPERLINK("x")'
    assert rows["AS2600000001"]["Battery replace by"] == "2027-06-15"
    assert rows["AS2600000001"]["Load (%)"] == "23"
    assert rows["AS2600000003"]["Load (%)"] == ""


def test_renewals_have_no_operational_data(client, fleet):
    login(client, fleet.owner)
    for rows in (
        read_csv(client.get("/reports/renewals.csv")),
        read_xlsx(client.get("/reports/renewals.xlsx")),
    ):
        assert list(rows[0]) == [c.header for c in RENEWALS_COLUMNS]
        for forbidden in (
            "Load (%)",
            "Battery charge (%)",
            "Internal temperature (°C)",
            "Firmware status",
            "Name",
            "Site",
        ):
            assert forbidden not in rows[0]
        row = next(r for r in rows if r["Serial number"] == "AS2600000001")
        assert as_day(row["Warranty expiry"]) == date(2027, 3, 31)
        assert row["Replacement battery SKU"] == "APCRBC7"


def test_revoked_share_removes_the_devices(client, fleet):
    from portal.models import DeviceShare, ShareStatus

    for row in db.session.scalars(db.select(DeviceShare)):
        row.status = ShareStatus.REVOKED
    db.session.commit()
    login(client, fleet.partner)
    assert read_csv(client.get("/reports/inventory.csv")) == []
    assert client.get(f"/reports/inventory.csv?customer={fleet.owner.company_id}").status_code == 404
