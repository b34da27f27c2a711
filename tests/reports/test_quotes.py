"""Partner quotes: access, options, batteries and warranties inside the term, the promotion, exports, uploads."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pytest

from portal.extensions import db
from portal.models import Quote
from portal.services.partners.renewals_upload import parse_renewals
from portal.services.reports import my_reports
from tests.portal.factories import login
from tests.reports.conftest import TODAY


def _quote_from_devices(client, fleet, *devices, customer_name=""):
    response = client.post(
        "/quotes/from-devices", data={"device": [d.id for d in devices], "customer_name": customer_name}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response.headers["Location"].rsplit("/", 1)[-1]


def _renewals_files(fleet) -> tuple[bytes, bytes]:
    """The owner's MyRenewals exactly as the Reports page writes it, as CSV and XLSX."""
    columns = my_reports.RENEWALS_COLUMNS
    csv_bytes = "".join(my_reports.csv_stream(columns, my_reports.device_rows(fleet.owner, today=TODAY))).encode(
        "utf-8"
    )
    buffer = io.BytesIO()
    my_reports.write_xlsx(buffer, "MyRenewals", columns, my_reports.device_rows(fleet.owner, today=TODAY))
    return csv_bytes, buffer.getvalue()


def test_signed_out_visitors_are_sent_to_sign_in(client, fleet):
    for url in ["/quotes/", "/quotes/00000000-0000-0000-0000-000000000000"]:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_customers_have_no_quotes(client, fleet):
    login(client, fleet.owner)
    assert client.get("/quotes/").status_code == 404
    assert client.post("/quotes/from-devices", data={"device": [fleet.a.id]}).status_code == 404
    assert client.post("/quotes/upload", data={}).status_code == 404
    assert db.session.query(Quote).count() == 0


def test_partner_builds_a_quote_from_shared_devices(client, fleet):
    login(client, fleet.partner)
    page = client.get("/quotes/").get_data(as_text=True)
    assert f'value="{fleet.a.id}"' in page and f'value="{fleet.b.id}"' in page
    assert f'value="{fleet.c.id}"' not in page and f'value="{fleet.foreign.id}"' not in page
    quote_id = _quote_from_devices(client, fleet, fleet.a, fleet.b)
    quote = db.session.get(Quote, quote_id)
    assert quote.customer_name == "Acme Hospital" and quote.source == "shared" and quote.quoted_on == TODAY
    assert sorted(line["serial"] for line in quote.lines) == ["AS2600000001", "AS2600000002"]

    page = client.get(f"/quotes/{quote_id}").get_data(as_text=True)
    for sku in ("SCSTD1Y", "SCSTD3Y", "SCSTD5Y", "SCADV1Y", "SCADV3Y", "SCADV5Y"):
        assert f'data-sku="{sku}"' in page
    # 1 year from the current expiry (2027-03-01): both batteries are due (2027-06-15 reported by
    # the UPS; 2027-01-10 from installation 2022-01-10 + 5 years); both warranties end inside.
    # 2 x SCSTD1Y 79.00 + APCRBC7 239.00 + APCRBC55 329.00 + WBEXTWAR1YR-SP-01 59.00 + WBEXTWAR3YR-SP-02 249.00
    assert 'id="total-1-standard">EUR 1,034.00<' in page
    assert 'id="total-1-advanced">EUR 1,134.00<' in page
    assert "+3 months" in page  # Advanced 1Y activated inside the promotion window


def test_batteries_and_warranties_inside_each_term(client, fleet):
    from portal.services.partners.quotes import price_quote

    login(client, fleet.partner)
    priced = price_quote(db.session.get(Quote, _quote_from_devices(client, fleet, fleet.a, fleet.b)))
    needs = {d.line["serial"]: d for d in priced.devices}
    a, b = needs["AS2600000001"], needs["AS2600000002"]
    assert a.battery_in_term == {1: 1, 3: 1, 5: 1}  # next after 2027-06-15 is 2032-06-15, after 2032-03-01
    assert b.battery_in_term == {1: 1, 3: 1, 5: 2}  # 2027-01-10 and again 2032-01-10, before 2032-03-01
    assert a.warranty_in_term == {1: "WBEXTWAR1YR-SP-01", 3: "WBEXTWAR3YR-SP-01", 5: "WBEXTWAR3YR-SP-01"}
    five = {
        line.sku: line.quantity
        for line in priced.option(5, priced.options[(5, list(priced.options)[0][1])].plan).lines
    }
    assert five["APCRBC55"] == 2 and five["APCRBC7"] == 1


def test_the_calculator_shows_the_volume_promotion(client, fleet):
    login(client, fleet.partner)
    quote_id = _quote_from_devices(client, fleet, fleet.a, fleet.b)
    page = client.get(f"/quotes/{quote_id}?qty=25").get_data(as_text=True)
    row = page.split('data-sku="SCADV1Y" data-quantity="25"')[1].split("</tr>")[0]
    cells = [c.split("<")[0] for c in row.split('<td class="num">')[1:]]
    assert cells[:2] == ["25", "2"]  # 25 ordered + 2 free
    assert "15" in cells[2]  # 12 + 3 months
    # 25 x 129.00 = 3225.00 for 27 licenses of 15 months = 33.75 device-years -> 95.56
    assert "EUR 3,225.00" in row and "EUR 95.56" in row
    assert 'data-sku="SCADV1Y" data-quantity="30"' in page  # the next step: 3 free
    default = client.get(f"/quotes/{quote_id}").get_data(as_text=True)
    assert 'data-sku="SCADV1Y" data-quantity="2"' in default
    assert 'data-sku="SCADV1Y" data-quantity="11"' in default  # the first quantity that earns a free license
    assert client.get(f"/quotes/{quote_id}?qty=0").status_code == 422
    partial = client.get(
        f"/quotes/{quote_id}?qty=11", headers={"HX-Request": "true", "HX-Target": "calculator"}
    )
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)


def test_quote_downloads_add_up(client, fleet):
    login(client, fleet.partner)
    quote_id = _quote_from_devices(client, fleet, fleet.a, fleet.b)
    text = client.get(f"/quotes/{quote_id}.csv").get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    by_option: dict[str, Decimal] = {}
    for row in rows:
        if row["Item"] == "Option total":
            assert Decimal(row["Line total"]) == by_option[row["Option"]]
        else:
            by_option[row["Option"]] = by_option.get(row["Option"], Decimal(0)) + Decimal(row["Line total"])
    assert by_option["Standard plan, 1 year"] == Decimal("1034")
    assert len({r["Option"] for r in rows}) == 6

    book = openpyxl.load_workbook(
        io.BytesIO(client.get(f"/quotes/{quote_id}.xlsx").get_data()), read_only=True
    )
    assert book.sheetnames == ["Quote", "Devices"]
    lines = list(book["Quote"].iter_rows(values_only=True))
    totals = {r[0]: r[8] for r in lines[1:] if r[1] == "Option total"}
    assert totals["Standard plan, 1 year"] == 1034.0 and totals["Advanced plan, 1 year"] == 1134.0
    devices = list(book["Devices"].iter_rows(values_only=True))
    assert sorted(r[2] for r in devices[1:]) == ["AS2600000001", "AS2600000002"]


def test_unshared_devices_are_refused_and_nothing_is_created(client, fleet):
    login(client, fleet.partner)
    response = client.post("/quotes/from-devices", data={"device": [fleet.a.id, fleet.c.id]})
    assert response.status_code == 404  # like any device the partner may not act on
    assert client.post("/quotes/from-devices", data={}).status_code == 422
    assert db.session.query(Quote).count() == 0


def test_a_stranger_gets_404_for_every_quote_url(app, client, fleet):
    login(client, fleet.stranger)
    quote = Quote(
        id="6f1c1a52-0000-4000-8000-000000000001",
        partner_company_id=fleet.partner.company_id,
        created_by_user_id=fleet.partner.id,
        source="shared",
        quoted_on=TODAY,
        created_at=TODAY,
        lines=[],
    )
    db.session.add(quote)
    db.session.commit()
    for url in (
        f"/quotes/{quote.id}",
        f"/quotes/{quote.id}.csv",
        f"/quotes/{quote.id}.xlsx",
        "/quotes/not-a-uuid",
    ):
        assert client.get(url).status_code == 404, url
    response = client.post("/quotes/from-devices", data={"device": [fleet.a.id]})
    assert response.status_code == 404
    assert db.session.query(Quote).count() == 1
    for url in (
        "/reports/inventory.csv",
        "/reports/renewals.xlsx",
        "/reports/outages",
        "/reports/outages.xlsx",
    ):
        assert client.get(f"{url}?customer={fleet.owner.company_id}").status_code == 404


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_myrenewals_uploads_round_trip(client, fleet, kind):
    csv_bytes, xlsx_bytes = _renewals_files(fleet)
    data = csv_bytes if kind == "csv" else xlsx_bytes
    rows = parse_renewals(f"MyRenewals.{kind}", data)
    assert [r["serial"] for r in rows] == ["AS2600000003", "AS2600000001", "AS2600000002"]

    login(client, fleet.partner)
    response = client.post(
        "/quotes/upload",
        data={"file": (io.BytesIO(data), f"MyRenewals.{kind}")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    quote = db.session.get(Quote, response.headers["Location"].rsplit("/", 1)[-1])
    assert quote.source == "upload" and quote.customer_name == "Acme Hospital"
    by_serial = {line["serial"]: line for line in quote.lines}
    assert by_serial["AS2600000001"]["battery_replace_by"] == "2027-06-15"
    assert by_serial["AS2600000001"]["warranty_expiry"] == "2027-03-31"
    assert by_serial["AS2600000001"]["subscription_expiry"] == "2027-03-01"
    assert by_serial["AS2600000002"]["battery_sku"] == "APCRBC55"
    assert by_serial["AS2600000003"]["battery_replace_by"] == ""
    page = client.get(f"/quotes/{quote.id}").get_data(as_text=True)
    assert "The customer’s MyRenewals report" in page and "Your MyRenewals report" not in page
    assert (
        'id="total-1-standard">EUR 1,113.00<' in page
    )  # the same figures as from devices, plus device c's license


def _csv(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


HEADER = "Customer,Model,Serial number,Plan,Subscription expiry,Battery replace by,Replacement battery SKU,Battery warranty expiry,Warranty expiry,Warranty extension SKU"
GOOD = "Acme,SMT1500C,AS1,Standard,2027-03-01,2027-06-15,APCRBC7,,2027-03-31,WBEXTWAR1YR-SP-01"

MALFORMED = [
    ("report.pdf", b"%PDF-1.7", "as .csv or .xlsx; this is .pdf"),
    ("report.csv", b"", "The file is empty"),
    (
        "report.csv",
        _csv(HEADER, GOOD) + "Acme,SMT750C,AS2,Standard,2027-01-01,,,,caf\u00e9\r\n".encode("latin-1"),
        "not UTF-8 text (row 3",
    ),
    (
        "report.csv",
        _csv("Customer,Model,Serial number,Subscription expiry", GOOD),
        'lacks the columns "Battery replace by", "Warranty expiry"',
    ),
    (
        "report.csv",
        _csv(HEADER, GOOD, GOOD.replace("AS1", "AS2").replace("2027-06-15", "2027-13-01")),
        'Row 3, column "Battery replace by": "2027-13-01" is not a date',
    ),
    ("report.csv", _csv(HEADER, GOOD, GOOD), "Row 3: serial number AS1 already appears in row 2"),
    (
        "report.csv",
        _csv(HEADER, GOOD.replace("AS1", "")),
        'Row 2, column "Serial number": the value is empty',
    ),
    ("report.csv", _csv(HEADER), "only the header row"),
    ("report.xlsx", b"Customer,Model", "named .xlsx but is not an Excel workbook"),
    ("report.xlsx", b"PK\x03\x04garbage", "not an Excel workbook that can be read"),
    (
        "report.csv",
        _csv(HEADER, *[GOOD.replace("AS1", f"AS{n}") for n in range(6)]),
        "Row 7: the file has more than 5 devices",
    ),
]


@pytest.mark.parametrize(("filename", "data", "message"), MALFORMED, ids=[m[2][:30] for m in MALFORMED])
def test_malformed_uploads_are_refused_in_place(client, fleet, monkeypatch, filename, data, message):
    monkeypatch.setattr("portal.services.partners.renewals_upload.MAX_ROWS", 5)
    login(client, fleet.partner)
    response = client.post(
        "/quotes/upload", data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message.replace('"', "&#34;") in page or message in page, page[page.find("file-errors") :][:400]
    assert db.session.query(Quote).count() == 0


def test_a_missing_file_and_an_oversized_upload_are_refused(app, client, fleet):
    login(client, fleet.partner)
    response = client.post("/quotes/upload", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose the MyRenewals file" in response.get_data(as_text=True)
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    big = io.BytesIO(b"x" * (3 * 1024 * 1024))
    response = client.post(
        "/quotes/upload", data={"file": (big, "big.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 413 and "larger than 2 MB" in response.get_data(as_text=True)
    assert db.session.query(Quote).count() == 0
