"""Names, locations and sites: one device, a selection, a CSV; and where they show (dashboard, reports)."""

from __future__ import annotations

import io

import pytest

from portal.extensions import db
from portal.models import CompanyKind, Device
from portal.services.fleet import labels
from tests.portal.factories import login, make_device, make_user, share


@pytest.fixture
def fleet(app):
    owner = make_user(company="Harbour Data Centre")
    partner = make_user(CompanyKind.PARTNER, company="Volt Partners")
    stranger = make_user(company="Elsewhere Ltd")
    a = make_device(owner, serial="AS2600000001")
    b = make_device(owner, serial="AS2600000002")
    c = make_device(owner, serial="AS2600000003")
    foreign = make_device(stranger, serial="AS2600000009")
    share(a, partner)
    return {"owner": owner, "partner": partner, "stranger": stranger, "a": a, "b": b, "c": c, "foreign": foreign}


def _client(app, user):
    client = app.test_client()
    assert login(client, user).status_code in (302, 303)
    return client


def _labels(device: Device) -> tuple[str, str, str]:
    db.session.expire_all()
    fresh = db.session.get(Device, device.id)
    return fresh.name, fresh.location, fresh.site


def _csv(text: str) -> dict:
    return {"file": (io.BytesIO(text.encode("utf-8")), "names.csv")}


def test_owner_names_one_device_and_it_shows_on_the_dashboard_filter_and_inventory(app, fleet):
    client = _client(app, fleet["owner"])
    a = fleet["a"]
    assert "Name and site" in client.get(f"/devices/{a.id}").get_data(as_text=True)
    response = client.post(f"/devices/{a.id}/name", data={"name": "  Rack 4   UPS ", "location": "Room 2", "site": "Harbour DC"})
    assert response.status_code == 303
    assert _labels(a) == ("Rack 4 UPS", "Room 2", "Harbour DC")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "Rack 4 UPS" in dashboard and "<option >Harbour DC</option>" in dashboard
    filtered = client.get("/dashboard?site=Harbour+DC").get_data(as_text=True)
    assert "AS2600000001" in filtered and "AS2600000002" not in filtered
    inventory = client.get("/reports/inventory.csv").get_data(as_text=True)
    header, *rows = inventory.lstrip("\ufeff").splitlines()
    assert "Name,Location,Site" in header
    assert any(row.startswith("Harbour Data Centre,SMT1500C,AS2600000001,Rack 4 UPS,Room 2,Harbour DC") for row in rows)


def test_partner_holding_the_share_names_the_device_others_get_404(app, fleet):
    a, foreign = fleet["a"], fleet["foreign"]
    assert _client(app, fleet["partner"]).post(f"/devices/{a.id}/name", data={"name": "Client UPS", "site": "Lyon"}).status_code == 303
    assert _labels(a) == ("Client UPS", "", "Lyon")
    assert _client(app, fleet["partner"]).post(f"/devices/{fleet['b'].id}/name", data={"name": "X"}).status_code == 404
    assert _client(app, fleet["owner"]).post(f"/devices/{foreign.id}/name", data={"name": "X"}).status_code == 404
    assert _labels(foreign) == ("", "", "")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "x" * 121}, "The name is 121 characters long; the most is 120."),
        ({"site": "Harbour\x07DC"}, "The site may not contain control characters."),
        ({"location": "Rack\u200b4"}, "The location may not contain control characters."),
    ],
)
def test_a_bad_label_is_refused_with_a_message_and_changes_nothing(app, fleet, fields, message):
    a = fleet["a"]
    response = _client(app, fleet["owner"]).post(f"/devices/{a.id}/name", data={"name": "Kept", **fields})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _labels(a) == ("", "", "")


def test_bulk_site_for_a_selection(app, fleet):
    client = _client(app, fleet["owner"])
    a, b, c = fleet["a"], fleet["b"], fleet["c"]
    c.location = "Basement"
    db.session.commit()
    response = client.post("/devices/names/site", data={"device": [a.id, b.id], "site": "Lyon DC"})
    assert response.status_code == 303
    assert [_labels(d)[2] for d in (a, b, c)] == ["Lyon DC", "Lyon DC", ""]
    client.post("/devices/names/site", data={"device": [b.id, c.id], "site": "Paris", "location": "Rack 9"})
    assert _labels(b) == ("", "Rack 9", "Paris") and _labels(c) == ("", "Rack 9", "Paris")
    page = client.get("/devices/names").get_data(as_text=True)
    assert page.count("Rack 9") == 2 and "Lyon DC" in page


def test_bulk_refuses_an_empty_site_a_missing_selection_and_anothers_device(app, fleet):
    client = _client(app, fleet["owner"])
    a, foreign = fleet["a"], fleet["foreign"]
    empty = client.post("/devices/names/site", data={"device": [a.id], "site": "  "})
    assert empty.status_code == 422 and "Enter the site" in empty.get_data(as_text=True)
    none = client.post("/devices/names/site", data={"site": "Lyon"})
    assert none.status_code == 422 and "Select at least one device." in none.get_data(as_text=True)
    mixed = client.post("/devices/names/site", data={"device": [a.id, foreign.id], "site": "Lyon"})
    assert mixed.status_code == 404
    assert _labels(a) == ("", "", "") and _labels(foreign) == ("", "", "")


def test_csv_preview_changes_nothing_then_apply_stores_every_line(app, fleet):
    client = _client(app, fleet["owner"])
    a, b, c = fleet["a"], fleet["b"], fleet["c"]
    c.name = "Kept name"
    db.session.commit()
    text = "\ufeffSerial,Name,Site,Location\r\nas2600000001,Rack 1,Harbour DC,Room 1\r\nAS2600000002,Rack 2,Harbour DC,\r\nAS2600000003,,Lyon,\r\n"
    preview = client.post("/devices/names/preview", data=_csv(text), content_type="multipart/form-data")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Preview: 3 devices will change" in page
    assert _labels(a) == ("", "", "")
    applied = client.post("/devices/names/apply", data={"csv_text": text.lstrip("\ufeff")})
    assert applied.status_code == 303
    assert _labels(a) == ("Rack 1", "Room 1", "Harbour DC")
    assert _labels(b) == ("Rack 2", "", "Harbour DC")
    assert _labels(c) == ("Kept name", "", "Lyon")  # an empty cell keeps what the device has
    outages = client.get("/reports/outages").get_data(as_text=True)
    assert "Harbour DC" in outages and "Lyon" in outages


def test_csv_with_bad_lines_names_each_line_and_changes_nothing(app, fleet):
    client = _client(app, fleet["owner"])
    a = fleet["a"]
    text = (
        "serial,name,site\n"
        "AS2600000001,Good,Harbour DC\n"
        "AS2600000009,Not mine,Lyon\n"
        ",No serial,Lyon\n"
        "AS2600000001,Twice,Lyon\n"
        f"AS2600000002,{'n' * 130},Lyon\n"
    )
    preview = client.post("/devices/names/preview", data=_csv(text), content_type="multipart/form-data")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 422
    for expected in (
        "Line 3: no device with serial AS2600000009 in your account.",
        "Line 4: the serial is empty.",
        "Line 5: AS2600000001 is already on line 2; give each device one line.",
        "Line 6: The name is 130 characters long; the most is 120.",
    ):
        assert expected in page
    assert "Apply these changes" not in page
    # Posting the same text straight to apply runs the same check: refused, nothing stored.
    applied = client.post("/devices/names/apply", data={"csv_text": text})
    assert applied.status_code == 422 and "Line 3:" in applied.get_data(as_text=True)
    assert _labels(a) == ("", "", "")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"serial,name,site\n" + b"AS2600000001,x,y\n" * 20000, "The file is larger than 256 KB."),
        ("serial,name,site\nAS2600000001,Caf\xe9,Lyon\n".encode("latin-1"), "The file is not UTF-8 text."),
        (b"serial,site\nAS2600000001,Lyon\n", "it lacks name"),
        (b"serial,name,site\n", "The file has a header but no device lines."),
        (b"", "The file is empty."),
    ],
)
def test_an_unusable_file_is_refused_whole(app, fleet, payload, message):
    client = _client(app, fleet["owner"])
    response = client.post(
        "/devices/names/preview", data={"file": (io.BytesIO(payload), "names.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _labels(fleet["a"]) == ("", "", "")


def test_a_partner_may_label_by_csv_only_the_devices_shared_with_it(app, fleet):
    with app.test_request_context():
        plan = labels.plan_csv(fleet["partner"], "serial,name,site\nAS2600000001,Client UPS,Lyon\nAS2600000002,No,Lyon\n")
    assert plan.errors == ("Line 3: no device with serial AS2600000002 in your account.",)
    assert plan.changes == ()


def test_too_many_lines_are_refused(app, fleet):
    body = "".join(f"AS26{n:08d},n,s\n" for n in range(labels.MAX_CSV_ROWS + 1))
    with pytest.raises(labels.CsvRefused, match="the most in one file is 5000"):
        labels.plan_csv(fleet["owner"], "serial,name,site\n" + body)
