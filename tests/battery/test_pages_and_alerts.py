"""Battery health on the device page and the fleet page, MyInventory's columns, and the health alert."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.extensions import db
from portal.models import BatteryDischarge, NotificationDelivery, TelemetrySample
from portal.services.battery.discharges import record_discharges
from portal.services.clock import clock
from portal.services.fleet import telemetry_store as store
from portal.services.licensing import entitlements
from tests.battery.discharge_lab import discharge_telemetry
from tests.portal.factories import CompanyKind, login, make_device, make_user, share

DAY_S = 86400.0
START_S = 1_780_000_000.0


def _store(device, telemetry, seq0: int) -> None:
    rows = [store.TelemetryRow(device.serial, seq0 + i, ts, t) for i, (ts, t) in enumerate(telemetry)]
    store.store_telemetry_batch(rows, now=clock().now())
    db.session.commit()


def _outages(device, capacities, *, gap_days=60.0, load=50.0) -> None:
    """One blackout per capacity, gap_days apart, stored the way ingest stores telemetry; then the pass."""
    for i, capacity in enumerate(capacities):
        telemetry = discharge_telemetry(device.model, capacity=capacity, load_percent=load, start_s=START_S + i * gap_days * DAY_S)
        _store(device, telemetry, seq0=1000 * (i + 1))
    run_pass()


def run_pass(alert_below: float = 0.7):
    result = record_discharges(now=clock().now(), today=clock().today(), alert_below=alert_below)
    db.session.commit()
    return result


def _owned(owner, model="SMT1500C"):
    device = make_device(owner, model=model)
    device.name = "Server room UPS"
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()
    return device


def test_the_device_page_shows_the_figure_the_trend_and_the_evidence(app, client):
    owner = make_user()
    device = _owned(owner)
    _outages(device, [0.9, 0.8, 0.7])
    login(client, owner)
    html = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert 'id="battery-health"' in html
    # The last three (90, 80, 70 %), weighted by the charge each used: the weaker used more.
    figure = int(re.search(r'id="battery-health-figure" class="">(\d+) %', html).group(1))
    assert 77 <= figure <= 80
    assert html.count("<circle") == 3 and 'class="trend"' in html
    predicted = db.session.scalars(select(BatteryDischarge.estimate_replace_by).order_by(BatteryDischarge.started_at.desc())).first()
    assert predicted is not None and predicted.strftime("%d %b %Y") in html
    assert "Where the trend reaches the replace limit." in html
    assert html.count("<tr>", html.index('id="battery-evidence"')) >= 3
    assert "Outage" in html


def test_no_discharge_yet_is_said_plainly(app, client):
    owner = make_user()
    device = _owned(owner)
    login(client, owner)
    html = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert "Not enough data yet" in html and "No discharge recorded yet." in html


def test_a_short_blip_is_evidence_without_a_figure(app, client):
    owner = make_user()
    device = _owned(owner)
    _store(device, discharge_telemetry(device.model, minutes=1, interval_s=20, start_s=START_S), seq0=1)
    assert run_pass().discharges == 1
    login(client, owner)
    html = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert "too short" in html and "Not enough data yet" in html


def test_basic_devices_are_told_what_plan_shows_it(app, client):
    owner = make_user()
    device = make_device(owner)  # no trial, no license: Basic
    login(client, owner)
    html = client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert 'id="battery-health-refused"' in html


def test_the_fleet_page_lists_shared_devices_for_the_partner_only(app, client):
    owner, partner = make_user(), make_user(CompanyKind.PARTNER)
    stranger = make_user(CompanyKind.PARTNER)
    weak, strong = _owned(owner), _owned(owner)
    _outages(weak, [0.62, 0.6, 0.58])
    _outages(strong, [0.95])
    share(weak, partner)
    login(client, owner)
    html = client.get("/battery").get_data(as_text=True)
    assert html.index(weak.serial) < html.index(strong.serial)  # weakest first
    assert "Replace now" in html
    client.post("/logout")
    login(client, partner)
    html = client.get("/battery").get_data(as_text=True)
    assert weak.serial in html and strong.serial not in html
    assert client.get(f"/battery?customer={owner.company_id}").status_code == 200
    client.post("/logout")
    login(client, stranger)
    assert weak.serial not in client.get("/battery").get_data(as_text=True)
    assert client.get(f"/battery?customer={owner.company_id}").status_code == 404


def test_myinventory_has_health_and_the_predicted_date(app, client):
    owner = make_user()
    device = _owned(owner)
    _outages(device, [0.9, 0.8, 0.7])
    login(client, owner)
    text = client.get("/reports/inventory.csv").get_data(as_text=True)
    header, row = text.splitlines()[:2]
    assert header.endswith("Battery health (% of new),Battery replace by (predicted)")
    predicted = db.session.scalars(select(BatteryDischarge.estimate_replace_by).order_by(BatteryDischarge.started_at.desc())).first()
    health = db.session.scalars(select(BatteryDischarge.estimate_health).order_by(BatteryDischarge.started_at.desc())).first()
    assert row.endswith(f",{round(health * 100)},{predicted.isoformat()}")


def test_health_below_the_limit_alerts_once_through_the_policies(app):
    owner = make_user()
    device = _owned(owner)
    _outages(device, [0.65])
    [alert] = db.session.scalars(
        select(NotificationDelivery).where(NotificationDelivery.event_type == "battery_health_low")
    ).all()
    assert "65 % of new capacity" in alert.payload["text"]
    # Another low discharge keeps the alert raised: no second one.
    _store(device, discharge_telemetry(device.model, capacity=0.64, start_s=START_S + 90 * DAY_S), seq0=50_000)
    assert run_pass().discharges == 1
    assert len(db.session.scalars(select(NotificationDelivery).where(NotificationDelivery.event_type == "battery_health_low")).all()) == 1


def test_the_pass_waits_for_a_discharge_still_running(app):
    owner = make_user()
    device = _owned(owner)
    telemetry = discharge_telemetry(device.model, capacity=0.9, start_s=START_S)
    _store(device, telemetry[:-1], seq0=1)  # still on battery at the last sample
    assert run_pass().discharges == 0
    _store(device, telemetry[-1:], seq0=len(telemetry))
    assert run_pass().discharges == 1
    assert db.session.query(TelemetrySample).count() == len(telemetry)
