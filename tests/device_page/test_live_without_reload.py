"""The device page updates while it is open: event log and firmware line by polling, outlet groups' on/off state."""

from __future__ import annotations

from portal.extensions import db
from portal.services.clock import clock
from portal.services.fleet.device_page import outlet_states
from tests.device_page.conftest import LATEST_VARS, put_event, put_status
from tests.security.tenancy_world import snapshot

HX = {"HX-Request": "true"}


def test_the_event_log_polls_and_shows_an_event_recorded_after_the_page_opened(as_owner, people):
    device = people["device"]
    page = as_owner.get(f"/devices/{device.id}").get_data(as_text=True)
    assert f'hx-get="/devices/{device.id}/events" hx-trigger="every 10s" hx-swap="outerHTML"' in page
    put_event(device, 7, clock().now(), code="0x0109", text="UPS: On battery power in response to an input power problem.")
    before = snapshot()
    partial = as_owner.get(f"/devices/{device.id}/events", headers=HX).get_data(as_text=True)
    assert partial.strip().startswith('<div id="event-log"') and "On battery power" in partial
    assert snapshot() == before  # a GET never writes


def test_the_poll_keeps_the_severity_filter(as_owner, people):
    device = people["device"]
    partial = as_owner.get(f"/devices/{device.id}/events?severity=critical", headers=HX).get_data(as_text=True)
    assert f'hx-get="/devices/{device.id}/events?severity=critical"' in partial


def test_the_firmware_line_changes_with_the_live_status_poll(as_owner, people):
    device = people["device"]
    put_status(device, variables=LATEST_VARS)
    page = as_owner.get(f"/devices/{device.id}").get_data(as_text=True)
    assert '<dd id="firmware">UPS 09.8 (ID18)' in page
    device.firmware = "UPS 10.0 (ID18)"  # what the UPS's next hello says after an upgrade
    db.session.commit()
    before = snapshot()
    partial = as_owner.get(f"/devices/{device.id}/live", headers=HX).get_data(as_text=True)
    assert partial.strip().startswith('<section class="card" id="live-status"')
    assert '<dd id="firmware" hx-swap-oob="true">UPS 10.0 (ID18)' in partial
    assert snapshot() == before


def test_each_outlet_groups_state_is_shown_and_follows_the_poll(as_owner, people):
    device = people["device"]
    variables = {**LATEST_VARS, "outlet.group.0.name": "Main Outlets", "outlet.group.0.status": "on",
                 "outlet.group.1.name": "Outlet Group 1", "outlet.group.1.status": "on"}
    put_status(device, variables=variables)
    assert '<li data-state="on">Outlet Group 1 <span class="badge badge-ok">On</span></li>' in as_owner.get(
        f"/devices/{device.id}").get_data(as_text=True)
    put_status(device, variables={**variables, "outlet.group.1.status": "off"})  # rebooting
    partial = as_owner.get(f"/devices/{device.id}/live", headers=HX).get_data(as_text=True)
    assert '<li data-state="off">Outlet Group 1 <span class="badge badge-basic">Off</span></li>' in partial
    assert '<li data-state="on">Main Outlets' in partial


def test_outlet_states_skip_what_is_not_a_state():
    assert outlet_states({"outlet.group.1.status": "rebooting", "outlet.group.2.status": "OFF"}) == [("Outlet group 2", "off")]
    assert outlet_states({}) == []
