"""Why it went to battery on the device page and per site on the Battery health page; the sensitivity advice's
one-click apply through the real command path (a real broker), gated by plan."""

from __future__ import annotations

from datetime import timedelta

from portal.extensions import db
from portal.models import CompanyKind, DeviceCommand, DeviceEvent, DeviceStatus, TelemetrySample
from portal.services.clock import clock
from portal.services.licensing import entitlements
from tests.portal.factories import login, make_device, make_user, share
from tests.portal.test_commands import FACTORY_KEY, DeviceInbox, broker, linked_app  # noqa: F401 - fixtures

NOTCH = "UPS: On battery power in response to rapid change of input."
DISTORTED = "UPS: On battery power in response to distorted input."
PROBLEM = "UPS: On battery power in response to an input power problem."
BACK = "UPS: No longer on battery power."


def _device(owner, *, trial=True, site="Leeds", sensitivity="normal"):
    device = make_device(owner)
    device.site = site
    if trial:
        entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.add(
        DeviceStatus(
            device_id=device.id, online=True, last_seen_at=clock().now(), ups_status="OL",
            variables={"input.sensitivity": sensitivity, "input.voltage.nominal": 230},
        )
    )
    db.session.commit()
    return device


def _transfer(device, seq, days_ago, seconds, text, voltage=None):
    began = clock().now() - timedelta(days=days_ago)
    db.session.add(DeviceEvent(device_id=device.id, seq=seq, ts=began, code="0x0109", severity="warning", text=text))
    db.session.add(
        DeviceEvent(device_id=device.id, seq=seq + 1, ts=began + timedelta(seconds=seconds), code="0x010A",
                    severity="informational", text=BACK)
    )
    if voltage is not None:
        db.session.add(
            TelemetrySample(device_id=device.id, seq=seq, ts=began + timedelta(seconds=1), ups_status="OB DISCHRG",
                            input_voltage_v=voltage, input_frequency_hz=50.0 if voltage else 0.0)
        )
    db.session.commit()


def _notchy(device):
    """Four short notches and a distortion blip this week, a 10-minute blackout and a brown-out 40 days ago."""
    for i in range(4):
        _transfer(device, 10 + 2 * i, 1 + i, 2, NOTCH)
    _transfer(device, 30, 1.5, 3, DISTORTED)
    _transfer(device, 40, 2.5, 600, PROBLEM, voltage=0.0)
    _transfer(device, 50, 40, 300, PROBLEM, voltage=150.0)


def test_the_device_page_says_why_and_advises_a_less_sensitive_setting(app, client):
    owner = make_user()
    device = _device(owner)
    _notchy(device)
    login(client, owner)
    html = client.get(f"/devices/{device.id}").get_data(as_text=True)
    section = html[html.index('id="battery-why"'):]
    assert '<strong id="why-transfers">6</strong>' in section and '<strong id="why-short">5</strong>' in section
    assert "Rate of change (notch/spike)</td><td class=\"num\">4" in section
    assert "Blackout</td><td class=\"num\">1</td><td class=\"num\">10.0" in section
    assert "Low voltage" not in section  # 40 days ago: outside the default 30 days
    assert "Suggestion: set input sensitivity to Reduced" in section
    assert "5 of 6 transfers lasted 10 s or less" in section
    assert 'name="sensitivity" value="reduced"' in section

    longer = client.get(f"/devices/{device.id}?why_days=90").get_data(as_text=True)
    assert "Low voltage</td><td class=\"num\">1" in longer[longer.index('id="battery-why"'):]


def test_a_period_not_offered_is_explained_and_the_default_shown(app, client):
    owner = make_user()
    device = _device(owner)
    login(client, owner)
    for raw in ("365", "abc", "-7", "9" * 40):
        response = client.get(f"/devices/{device.id}?why_days={raw}")
        assert response.status_code == 200
        assert "Choose a period of 7, 30, 90 days; showing the last 30 days." in response.get_data(as_text=True)
    fleet = client.get("/battery?why_days=abc")
    assert fleet.status_code == 200 and "showing the last 30 days" in fleet.get_data(as_text=True)


def test_no_advice_at_low_sensitivity_or_for_blackouts(app, client):
    owner = make_user()
    at_low = _device(owner, sensitivity="low")
    _notchy(at_low)
    blackouts = _device(owner)
    for i in range(4):
        _transfer(blackouts, 10 + 2 * i, 1 + i, 2, PROBLEM, voltage=0.0)
    login(client, owner)
    for device in (at_low, blackouts):
        assert "Suggestion:" not in client.get(f"/devices/{device.id}").get_data(as_text=True)


def test_basic_gets_the_advice_without_the_button_and_a_forged_post_sends_nothing(app, client):
    owner = make_user()
    device = _device(owner, trial=False)
    _notchy(device)
    login(client, owner)
    section = client.get(f"/devices/{device.id}").get_data(as_text=True).split('id="battery-why"')[1]
    assert "Suggestion: set input sensitivity to Reduced" in section
    assert 'value="reduced"' not in section
    assert "Input-sensitivity adjustment needs the Standard plan" in section
    client.post(f"/devices/{device.id}/commands", data={"type": "input.sensitivity", "sensitivity": "reduced"})
    assert db.session.scalar(db.select(db.func.count(DeviceCommand.id))) == 0


def test_one_click_applies_the_suggestion_through_the_command_service(linked_app, client, broker):  # noqa: F811
    owner = make_user()
    device = _device(owner)
    _notchy(device)
    login(client, owner)
    inbox = DeviceInbox(broker.port, device.serial)
    try:
        response = client.post(f"/devices/{device.id}/commands", data={"type": "input.sensitivity", "sensitivity": "reduced"})
        assert response.status_code == 303
        message = inbox.next()
        assert message["type"] == "input.sensitivity" and message["args"] == {"sensitivity": "reduced"}
    finally:
        inbox.close()


def _two_sites():
    owner, partner = make_user(), make_user(CompanyKind.PARTNER)
    leeds = _device(owner, site="Leeds")
    york = _device(owner, site="York")
    _notchy(leeds)
    _transfer(york, 10, 1, 120, PROBLEM, voltage=0.0)
    share(york, partner)
    return owner, partner


def _site_table(client) -> str:
    html = client.get("/battery").get_data(as_text=True)
    return html[html.index('id="why-sites"'):]


def test_per_site_on_the_battery_page(app, client):
    owner, _ = _two_sites()
    login(client, owner)
    table = _site_table(client)
    assert table.index("Leeds") < table.index("York")  # most transfers first
    assert "Rate of change (notch/spike) ×4" in table and "Blackout ×1" in table


def test_a_partner_sees_only_the_sites_of_shared_devices(app, client):
    _, partner = _two_sites()
    login(client, partner)
    table = _site_table(client)
    assert "York" in table and "Blackout ×1" in table
    assert "Leeds" not in table and "Rate of change" not in table
