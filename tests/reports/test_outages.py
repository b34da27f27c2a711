"""The outage report on hand-built event logs, with figures a reader can check by hand."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl
import pytest

from portal.extensions import db
from portal.models import DeviceEvent
from tests.portal.factories import login

ON = "UPS: On battery power in response to {}."
OFF = "UPS: No longer on battery power."
PERIOD = "start=2026-11-01&end=2026-11-20"
_seq = iter(range(1, 10_000))


def event(device, ts: str, code: str, text: str) -> None:
    db.session.add(
        DeviceEvent(
            device_id=device.id,
            seq=next(_seq),
            ts=datetime.fromisoformat(ts),
            code=code,
            severity="warning",
            text=text,
        )
    )


@pytest.fixture
def outages(fleet):
    a, b, c = fleet.a, fleet.b, fleet.c
    # a (Grenoble): on battery since before the period: its 20 minutes inside count, the transfer does not.
    event(a, "2026-10-31 23:50:00", "0x0109", ON.format("an input power problem"))
    event(a, "2026-11-01 00:20:00", "0x010A", OFF)
    # a: a 4.5-minute transfer.
    event(a, "2026-11-05 10:00:00", "0x0109", ON.format("rapid change of input"))
    event(a, "2026-11-05 10:04:30", "0x010A", OFF)
    # a: 30 minutes; the second 0x0109 while on battery is the same outage.
    event(a, "2026-11-10 08:00:00", "0x0109", ON.format("an input power problem"))
    event(a, "2026-11-10 08:05:00", "0x0109", ON.format("distorted input"))
    event(a, "2026-11-10 08:30:00", "0x010A", OFF)
    event(a, "2026-11-12 09:00:00", "0x0114", "UPS: Passed a self-test.")  # not an outage
    # b (Lyon): starts an hour before the period ends and runs past it: 60 minutes inside.
    event(b, "2026-11-20 23:00:00", "0x0109", ON.format("an input power problem"))
    event(b, "2026-11-21 01:00:00", "0x010A", OFF)
    # c (Grenoble): on battery since 2026-11-22 10:00 and still on battery at "now" (2026-11-23 12:00).
    event(c, "2026-11-22 10:00:00", "0x0109", ON.format("distorted input"))
    # Another customer's device: never in anyone else's report.
    event(fleet.foreign, "2026-11-05 10:00:00", "0x0109", ON.format("an input power problem"))
    event(fleet.foreign, "2026-11-05 11:00:00", "0x010A", OFF)
    db.session.commit()
    return fleet


def test_owner_sees_per_device_and_per_site_figures(client, outages):
    login(client, outages.owner)
    response = client.get(f"/reports/outages?{PERIOD}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="total-transfers">3<' in page  # a: 2 inside the period, b: 1
    assert 'id="total-minutes">114.5 min<' in page  # a: 20 + 4.5 + 30, b: 60
    assert 'id="longest">60.0 min<' in page
    assert "Rapid change of input ×1" in page and "Input power problem ×1" in page
    assert "AS2600000099" not in page


def test_the_downloads_match_the_page(client, outages):
    login(client, outages.owner)
    text = client.get(f"/reports/outages.csv?{PERIOD}").get_data().decode("utf-8-sig")
    rows = {r["Serial number"]: r for r in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {"AS2600000001", "AS2600000002", "AS2600000003"}
    a, b, c = rows["AS2600000001"], rows["AS2600000002"], rows["AS2600000003"]
    assert (a["Transfers to battery"], a["Minutes on battery"], a["Longest outage (min)"]) == (
        "2",
        "54.5",
        "30",
    )
    assert a["Transfer reasons"] in (
        "Rapid change of input x1; Input power problem x1",
        "Input power problem x1; Rapid change of input x1",
    )
    assert (b["Transfers to battery"], b["Minutes on battery"], b["Longest outage (min)"]) == (
        "1",
        "60",
        "60",
    )
    assert (c["Transfers to battery"], c["Minutes on battery"]) == ("0", "0")
    assert a["Period start"] == "2026-11-01" and a["Period end"] == "2026-11-20"

    book = openpyxl.load_workbook(
        io.BytesIO(client.get(f"/reports/outages.xlsx?{PERIOD}").get_data()), read_only=True
    )
    assert book.sheetnames == ["By site", "By device"]
    sites = list(book["By site"].iter_rows(values_only=True))
    header, body = sites[0], [dict(zip(sites[0], r, strict=True)) for r in sites[1:]]
    assert header[:8] == (
        "Customer",
        "Site",
        "Devices",
        "Devices on battery",
        "Transfers to battery",
        "Minutes on battery",
        "Longest outage (min)",
        "Transfer reasons",
    )
    by_site = {r["Site"]: r for r in body}
    assert (by_site["Grenoble"]["Devices"], by_site["Grenoble"]["Devices on battery"]) == (2, 1)
    assert (by_site["Grenoble"]["Transfers to battery"], by_site["Grenoble"]["Minutes on battery"]) == (
        2,
        54.5,
    )
    assert (by_site["Lyon"]["Transfers to battery"], by_site["Lyon"]["Longest outage (min)"]) == (1, 60)
    devices = list(book["By device"].iter_rows(values_only=True))
    assert len(devices) == 4

    by_site_csv = client.get(f"/reports/outages.csv?{PERIOD}&by=site").get_data().decode("utf-8-sig")
    assert "Grenoble" in by_site_csv and "Devices on battery" in by_site_csv


def test_an_outage_still_running_counts_until_now(client, outages):
    login(client, outages.owner)
    text = client.get("/reports/outages.csv?start=2026-11-22&end=2026-11-23").get_data().decode("utf-8-sig")
    rows = {r["Serial number"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["AS2600000003"]["Transfers to battery"] == "1"
    assert rows["AS2600000003"]["Minutes on battery"] == "1560"  # 2026-11-22 10:00 to now, 2026-11-23 12:00


def test_default_period_is_the_last_30_days(client, outages):
    login(client, outages.owner)
    page = client.get("/reports/outages").get_data(as_text=True)
    assert 'value="2026-10-25"' in page and 'value="2026-11-23"' in page


def test_partner_sees_shared_devices_only(client, outages):
    login(client, outages.partner)
    text = client.get(f"/reports/outages.csv?{PERIOD}").get_data().decode("utf-8-sig")
    assert sorted(r["Serial number"] for r in csv.DictReader(io.StringIO(text))) == [
        "AS2600000001",
        "AS2600000002",
    ]
    assert client.get(f"/reports/outages?{PERIOD}&customer={outages.owner.company_id}").status_code == 200


def test_stranger_gets_404_or_nothing(client, outages):
    login(client, outages.stranger)
    for url in ("/reports/outages", "/reports/outages.csv", "/reports/outages.xlsx"):
        assert client.get(f"{url}?{PERIOD}&customer={outages.owner.company_id}").status_code == 404
    text = client.get(f"/reports/outages.csv?{PERIOD}").get_data().decode("utf-8-sig")
    assert list(csv.DictReader(io.StringIO(text))) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-11-20&end=2026-11-01", "The last day is before the first day."),
        ("start=2026-12-20&end=2026-12-21", "The period starts in the future"),
        ("start=2025-01-01&end=2026-11-20", "at most 366 days"),
        ("start=2026-02-30&end=2026-11-20", "Not a valid date value"),
    ],
)
def test_bad_periods_are_shown_in_place(client, outages, query, message):
    login(client, outages.owner)
    for url in ("/reports/outages", "/reports/outages.csv"):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
