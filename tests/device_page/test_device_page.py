"""The device page and its partials: who sees them, what they show, how they refresh."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.extensions import db
from portal.services.clock import clock
from portal.services.licensing import entitlements
from tests.device_page.conftest import give, put_command, put_event, put_rollup, put_samples, put_status
from tests.portal.factories import login, make_device, make_user

HX = {"HX-Request": "true"}
PARTIALS = ["live", "command-log", "events", "history.json"]


def _url(device, part=""):
    return f"/devices/{device.id}" + (f"/{part}" if part else "")


@pytest.mark.parametrize("part", ["", *PARTIALS])
@pytest.mark.parametrize(("who", "expected"), [("owner", 200), ("partner", 200), ("stranger", 404)])
def test_who_may_see_the_page_and_its_parts(client, people, part, who, expected):
    login(client, people[who])
    response = client.get(_url(people["device"], part), headers=HX if part and part != "history.json" else {})
    assert response.status_code in ((expected, 286) if part == "command-log" else (expected,))
    if expected == 404:
        assert people["device"].serial not in response.get_data(as_text=True)


@pytest.mark.parametrize("part", ["", *PARTIALS])
def test_signed_out_is_sent_to_sign_in(client, people, part):
    response = client.get(_url(people["device"], part))
    assert response.status_code == 302 and "/login" in response.location
    partial = client.get(_url(people["device"], part), headers=HX)
    assert partial.status_code == 401 and "/login" in partial.headers["HX-Redirect"]


def test_live_status_partial_is_the_page_block(as_owner, people):
    device = people["device"]
    page = as_owner.get(_url(device)).get_data(as_text=True)
    partial = as_owner.get(_url(device, "live"), headers=HX).get_data(as_text=True)
    assert partial.strip().startswith('<section class="card" id="live-status"')
    assert 'hx-trigger="every 5s"' in partial and "<html" not in partial
    for text in ("On Line", "25 min estimated runtime", "37 %", "96 %", "231.4 V", "50.0 Hz", "29.5 °C"):
        assert text in partial and text in page
    # Without htmx the same URL is the whole page.
    assert "<html" in as_owner.get(_url(device, "live")).get_data(as_text=True)


def test_on_battery_mode_and_firmware_progress_bar(as_owner, people):
    device = people["device"]
    put_status(
        device,
        ups_status="OB DISCHRG",
        variables={"ups.status": "OB DISCHRG", "battery.runtime": 600, "ups.load": 40},
    )
    put_command(device, people["owner"], status="progress", progress=40)
    partial = as_owner.get(_url(device, "live"), headers=HX).get_data(as_text=True)
    assert "On Battery" in partial and "10 min estimated runtime" in partial
    assert '<progress id="firmware-progress" max="100" value="40">' in partial


def test_stale_and_offline_follow_the_real_clock(as_owner, people):
    device = people["device"]
    from portal.models import DeviceStatus

    status = db.session.get(DeviceStatus, device.id)
    status.last_seen_at = status.last_seen_at - timedelta(minutes=30)
    db.session.commit()
    assert "Not reporting" in as_owner.get(_url(device, "live"), headers=HX).get_data(as_text=True)
    status.online = False
    db.session.commit()
    assert "Offline, last seen 30 minutes ago" in as_owner.get(_url(device, "live"), headers=HX).get_data(
        as_text=True
    )


def test_command_log_polls_while_a_command_is_open_and_stops_with_286(as_owner, people):
    device = people["device"]
    response = as_owner.get(_url(device, "command-log"), headers=HX)
    assert response.status_code == 286 and "No commands sent yet." in response.get_data(as_text=True)
    command = put_command(device, people["owner"], status="progress", progress=55)
    response = as_owner.get(_url(device, "command-log"), headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'hx-trigger="every 2s"' in body and 'value="55"' in body
    command.status, command.progress_percent = "done", 100
    db.session.commit()
    response = as_owner.get(_url(device, "command-log"), headers=HX)
    assert response.status_code == 286 and "hx-trigger" not in response.get_data(as_text=True)
    assert "done" in response.get_data(as_text=True)


def test_actions_on_trial_allow_self_test_and_sensitivity_but_reboot_names_advanced(as_owner, people):
    page = as_owner.get(_url(people["device"])).get_data(as_text=True)
    assert 'value="test.battery.start"' in page and "Start self-test" in page
    assert 'name="sensitivity"' in page and '<option value="reduced">' in page
    assert "Remote outlet-group reboot needs the Advanced plan; this device is on Standard." in page
    assert "outlet-reboot" not in page


def test_basic_device_says_why_and_which_plan(client, app):
    owner = make_user()
    device = make_device(owner, model="SMT1500C")
    device.firmware = "UPS 01.0 (ID18)"
    db.session.commit()
    put_status(device)
    login(client, owner)
    page = client.get(_url(device)).get_data(as_text=True)
    assert "Self-test and diagnostics needs the Standard plan; this device is on Basic." in page
    assert "Input-sensitivity adjustment needs the Standard plan" in page
    assert "needs the Advanced plan" in page
    assert 'value="test.battery.start"' not in page
    if "Upgrade firmware" in page:
        assert "start the firmware installation from the UPS&#39;s own LCD screen" in page
    assert "Charts of load, charge, input voltage and temperature need the Standard plan" in page
    assert client.get(_url(device, "history.json")).status_code == 403


def test_advanced_reboot_needs_a_confirmation_step(as_owner, people):
    device = people["device"]
    give(device, people["owner"], "SCADV1Y")
    page = as_owner.get(_url(device)).get_data(as_text=True)
    # The page offers a link to a confirmation, not a form that reboots at once.
    assert f'href="/devices/{device.id}/outlet-reboot?group=Outlet+Group+1"' in page
    assert 'value="outlet.group.cycle"' not in page
    partial = as_owner.get(_url(device, "outlet-reboot?group=Outlet+Group+1"), headers=HX).get_data(
        as_text=True
    )
    assert partial.strip().startswith('<section class="card" id="actions"')
    assert "Are you sure?" in partial and "Reboot Outlet Group 1 now" in partial
    assert 'value="outlet.group.cycle"' in partial and 'name="group" value="Outlet Group 1"' in partial
    full = as_owner.get(_url(device, "outlet-reboot?group=Outlet+Group+1")).get_data(as_text=True)
    assert "<html" in full and "Are you sure?" in full
    assert as_owner.get(_url(device, "outlet-reboot?group=Main+Outlets")).status_code == 404


def test_owner_sees_share_link_and_partner_does_not(client, people):
    login(client, people["owner"])
    assert f'href="/devices/{people["device"].id}/sharing"' in client.get(_url(people["device"])).get_data(
        as_text=True
    )
    client.post("/logout")
    client.get("/logout")
    login(client, people["partner"])
    page = client.get(_url(people["device"])).get_data(as_text=True)
    assert "Share this device" not in page and "Remove " not in page


def test_dates_on_the_page(as_owner, people):
    from datetime import date

    device = people["device"]
    device.battery_installed_on = date(2025, 3, 1)
    device.warranty_ends_on = date(2028, 3, 1)
    db.session.commit()
    page = as_owner.get(_url(device)).get_data(as_text=True)
    assert "01 Mar 2025" in page and "01 Mar 2028" in page
    assert "Replace battery by" in page


def test_history_short_range_is_full_resolution_and_ends_at_the_latest_sample(as_owner, people):
    device = people["device"]
    latest = clock().now() + timedelta(days=3)  # the device runs ahead (accelerated simulated time)
    put_samples(device, latest, 120, step_s=60)
    put_status(device, last_telemetry_at=latest)
    data = as_owner.get(_url(device, "history.json?range=1h")).json
    assert data["resolution"] == "samples" and data["range"] == "1h"
    assert data["end"] == int(latest.replace(tzinfo=__import__("datetime").UTC).timestamp())
    assert len(data["x"]) == 61 and data["x"][-1] == data["end"] and data["x"][0] == data["start"]
    assert len(data["load_percent"]) == len(data["x"]) and data["units"]["input_voltage_v"] == "V"
    assert len(as_owner.get(_url(device, "history.json?range=24h")).json["x"]) == 120


def test_history_long_range_merges_rollups_before_the_oldest_sample(as_owner, people):
    device = people["device"]
    latest = clock().now().replace(minute=0, second=0, microsecond=0)
    put_samples(device, latest, 60, step_s=60, load=50.0)  # the last hour at full resolution
    for hours in range(2, 6):
        put_rollup(device, latest - timedelta(hours=hours), load=20.0)
    put_rollup(device, latest - timedelta(days=10), load=99.0)  # outside 7 days
    put_status(device, last_telemetry_at=latest)
    data = as_owner.get(_url(device, "history.json?range=7d")).json
    assert data["resolution"] == "buckets" and data["bucket_seconds"] == 900
    assert data["load_percent"][:4] == [20.0] * 4 and 99.0 not in data["load_percent"]
    assert all(v == 50.0 for v in data["load_percent"][4:]) and len(data["x"]) == 4 + 5
    assert data["x"] == sorted(data["x"])
    assert as_owner.get(_url(device, "history.json?range=30d")).json["load_percent"][0] == 99.0
    assert as_owner.get(_url(device, "history.json?range=bogus")).json["range"] == "24h"


def test_event_log_filters_by_severity_and_marks_own_commands(as_owner, people):
    device = people["device"]
    now = clock().now()
    command = put_command(device, people["owner"], type_="test.battery.start", status="done")
    put_event(device, 1, now - timedelta(hours=2), "warning")
    put_event(
        device,
        2,
        now - timedelta(hours=1),
        "informational",
        "0x0137",
        "UPS: Self-Test started by management device.",
        caused_by=command.id,
    )
    put_event(device, 3, now - timedelta(days=40), "critical", "0x010F", "UPS: The battery power is too low")
    page = as_owner.get(_url(device)).get_data(as_text=True)
    assert "0x0109" in page and "0x0137" in page and "started by you" in page and "0x010F" not in page
    partial = as_owner.get(_url(device, "events?severity=informational"), headers=HX).get_data(as_text=True)
    assert partial.strip().startswith('<div id="event-log"')
    assert "0x0137" in partial and "0x0109" not in partial
    assert "No critical events in the last 30 days." in as_owner.get(
        _url(device, "events?severity=critical"), headers=HX
    ).get_data(as_text=True)
    full = as_owner.get(_url(device, "events?severity=warning")).get_data(as_text=True)
    assert "<html" in full and '<option value="warning" selected>' in full and "0x0137" not in full


def test_subscription_timeline_lists_trial_queued_term_and_basic(as_owner, people):
    device = people["device"]
    give(device, people["owner"], "SCSTD1Y")
    page = as_owner.get(_url(device)).get_data(as_text=True)
    assert "Standard (trial) (current)" in page and "Standard (queued)" in page and "Basic (fallback)" in page
    assert page.count('class="seg seg-') == 3 and "seg-current" in page


def test_sensitivity_and_self_test_forms_post_to_the_command_endpoint(as_owner, people):
    device = people["device"]
    page = as_owner.get(_url(device)).get_data(as_text=True)
    assert page.count(f'action="/devices/{device.id}/commands"') >= 2
    assert entitlements.current_plan(device, clock().today()).name == "STANDARD"


def test_an_unanswered_command_times_out_by_the_workers_housekeeping_not_by_the_page(as_owner, people):
    from portal.ingest import expire_overdue_commands

    device = people["device"]
    command = put_command(device, people["owner"], status="sent", type_="test.battery.start", progress=0)
    clock().advance(timedelta(minutes=3))  # past the 2-minute timeout
    db.session.commit()
    as_owner.get(_url(device))
    as_owner.get(_url(device, "command-log"), headers=HX)
    db.session.refresh(command)
    assert command.status == "sent"  # a GET never writes

    assert expire_overdue_commands() == 1  # the ingest worker's pass, every second
    response = as_owner.get(_url(device, "command-log"), headers=HX)
    assert response.status_code == 286 and "timed out" in response.get_data(as_text=True)

