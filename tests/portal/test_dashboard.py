"""Dashboard: tiles by operating mode, filters, sorting, pagination and the htmx partial."""

from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import CompanyKind, DeviceStatus
from portal.services.clock import clock, utcnow
from portal.services.licensing import entitlements
from tests.portal.factories import login, make_device, make_user, share


def _status(device, ups_status="OL CHRG", online=True, seen_ago_s=5, **variables):
    db.session.add(
        DeviceStatus(
            device_id=device.id, online=online, last_seen_at=utcnow() - timedelta(seconds=seen_ago_s), ups_status=ups_status,
            variables={"ups.status": ups_status, **variables},
        )
    )
    db.session.commit()


@pytest.fixture
def fleet(app):
    owner = make_user()
    devices = {
        "online": make_device(owner, model="SMT1500C"),
        "on_battery": make_device(owner, model="SMT1500C"),
        "low_battery": make_device(owner, model="SMC1500C"),
        "offline": make_device(owner, model="SMT750C"),
        "stale": make_device(owner, model="SMT750C"),
    }
    _status(devices["online"], "OL CHRG", **{"ups.load": 40, "battery.charge": 100})
    _status(devices["on_battery"], "OB DISCHRG", **{"ups.load": 55, "battery.charge": 71})
    _status(devices["low_battery"], "OB DISCHRG LB", **{"ups.load": 60, "battery.charge": 8})
    _status(devices["offline"], "OL", online=False)
    _status(devices["stale"], "OL", seen_ago_s=3600)
    entitlements.start_trial(devices["online"], today=clock().today(), now=clock().now())
    db.session.commit()
    return owner, devices


def _tile(page: str, mode: str) -> int:
    chunk = page.split(f'data-mode="{mode}"', 1)[1]
    return int(chunk.split('<span class="tile-count">', 1)[1].split("<", 1)[0])


def test_tiles_count_devices_by_operating_mode(client, fleet):
    owner, _ = fleet
    login(client, owner)
    page = client.get("/dashboard").get_data(as_text=True)
    assert [_tile(page, mode) for mode in ("online", "on_battery", "low_battery", "offline", "stale")] == [1, 1, 1, 1, 1]
    assert "Trial ending" not in page  # six months away


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mode=on_battery", {"on_battery"}),
        ("mode=low_battery", {"low_battery"}),
        ("plan=standard", {"online"}),
        ("plan=basic", {"on_battery", "low_battery", "offline", "stale"}),
        ("model=SMT750C", {"offline", "stale"}),
        ("mode=nonsense", {"online", "on_battery", "low_battery", "offline", "stale"}),
    ],
)
def test_filters(client, fleet, query, expected):
    owner, devices = fleet
    login(client, owner)
    page = client.get(f"/dashboard?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
    shown = {key for key, device in devices.items() if f'data-serial="{device.serial}"' in page}
    assert shown == expected


def test_search_and_sort(client, fleet):
    owner, devices = fleet
    login(client, owner)
    page = client.get(f"/dashboard?q={devices['stale'].serial.lower()}").get_data(as_text=True)  # the start of a serial
    assert devices["stale"].serial in page and devices["online"].serial not in page
    page = client.get(f"/dashboard?q={devices['stale'].serial[-4:]}").get_data(as_text=True)
    assert devices["stale"].serial not in page  # the search matches the beginning of serial, name, model or site
    page = client.get("/dashboard?sort=-charge").get_data(as_text=True)
    order = [page.index(f'data-serial="{devices[k].serial}"') for k in ("online", "on_battery", "low_battery")]
    assert order == sorted(order)


def test_partial_is_the_table_block_with_tiles_out_of_band(client, fleet):
    owner, _ = fleet
    login(client, owner)
    response = client.get("/dashboard", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="device-table"')
    assert 'id="tiles"' in body and 'hx-swap-oob="true"' in body
    assert "<html" not in body


def test_pagination(client, app):
    owner = make_user()
    for _ in range(30):
        make_device(owner)
    login(client, owner)
    first = client.get("/dashboard").get_data(as_text=True)
    second = client.get("/dashboard?page=2").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert first.count("data-serial=") == 25 and second.count("data-serial=") == 5


def test_partner_sees_shared_devices_only_and_strangers_see_nothing(client, fleet):
    owner, devices = fleet
    partner, stranger = make_user(CompanyKind.PARTNER), make_user(CompanyKind.PARTNER)
    share(devices["online"], partner)
    login(client, partner)
    page = client.get("/dashboard").get_data(as_text=True)
    assert devices["online"].serial in page and devices["offline"].serial not in page and "Shared with me" in page
    client.post("/logout")
    login(client, stranger)
    page = client.get("/dashboard").get_data(as_text=True)
    assert not any(device.serial in page for device in devices.values())


def test_renewal_and_trial_banners_follow_the_lab_clock(client, fleet):
    owner, _ = fleet
    login(client, owner)
    client.post("/lab/clock", data={"days": "160"})
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Trial ending" in page and "Renewal due" in page


def test_basic_devices_show_status_only(client, fleet):
    owner, devices = fleet
    login(client, owner)
    page = client.get("/dashboard").get_data(as_text=True)
    basic_row = page.split(f'data-serial="{devices["on_battery"].serial}"', 1)[1].split("</tr>", 1)[0]
    trial_row = page.split(f'data-serial="{devices["online"].serial}"', 1)[1].split("</tr>", 1)[0]
    assert "On Battery" in basic_row and "55 %" not in basic_row and "71 %" not in basic_row
    assert "40 %" in trial_row and "100 %" in trial_row
    device_page = client.get(f"/devices/{devices['on_battery'].id}").get_data(as_text=True)
    assert "need the Standard plan or higher" in device_page and 'id="load"' not in device_page


STATUS_CASES = ["OL", "OL CHRG", "OB DISCHRG", "OB DISCHRG LB", "OL RB", "OL BYPASS", "OL CAL", "OB CAL", "OL TEST",
                "OL CHRG LB RB", "", "OBX", "LBX OL"]


@pytest.mark.parametrize("freshness", ["online", "stale", "offline"])
def test_the_dashboard_sql_and_the_device_page_agree_on_the_mode(app, freshness):
    """Both forms are built from one precedence table; this pins that they stay the same rule."""
    from sqlalchemy import select

    from portal.models import Device
    from portal.services.fleet import operating_modes
    from portal.services.fleet.overview import mode_expression

    owner = make_user()
    devices = {}
    for ups_status in STATUS_CASES:
        device = make_device(owner)
        _status(device, ups_status, online=freshness != "offline", seen_ago_s=3600 if freshness == "stale" else 5)
        devices[device.id] = ups_status
    stale_before = utcnow() - timedelta(seconds=300)
    rows = db.session.execute(
        select(Device.id, mode_expression(stale_before)).outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
    ).all()
    assert len(rows) == len(STATUS_CASES)
    for device_id, sql_mode in rows:
        assert sql_mode == operating_modes.mode_key(devices[device_id], freshness, tiles_only=True), devices[device_id]
