"""Time travel that keeps data: one lab clock for the portal, the ingest worker, maintenance and the fleet.

A real simulated fleet publishes over a real broker to the real ingest worker; the owner claims a device,
cuts its power from the lab console, moves the lab clock 130 days, runs `flask maintenance`, cuts the
power again, and finds the earlier and the new events, the outage report and the chart data intact.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from devicelink.brokers import EmbeddedBroker
from devicelink.provisioning import claim_code, factory_key_from_env, manufacture
from portal.extensions import db
from portal.models import Device, DeviceEvent, TelemetrySample
from portal.services.clock import clock, cutoff_skipping_moves
from portal.services.lab.console import from_unix
from simulator.control import ControlServer
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock
from tests.ingest.conftest import PORTAL_PASSWORD, PORTAL_USER, count
from tests.portal.factories import login, make_device, make_user
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(180)
KEY = factory_key_from_env("test-factory-key")  # the portal's FACTORY_KEY in tests


@pytest.fixture
def broker():
    """The embedded broker is enough here: what is tested is the clock, not the broker."""
    instance = EmbeddedBroker(users={PORTAL_USER: PORTAL_PASSWORD}, factory_key=KEY)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def fleet(app, broker):
    sim = SimClock(speed=1.0, start_s=clock().now().replace(tzinfo=UTC).timestamp())  # as make run starts it
    devices = [SimulatedDevice(i, seed=4, sim_start_s=sim.start_s, factory_key=KEY, step_s=1.0) for i in manufacture(2, 4, factory_key=KEY)]
    instance = Fleet(devices, broker.endpoint(), clock=sim, interval_s=0.5, backoff_min_s=0.1)
    control = ControlServer(instance, 0, seed=4).start()
    instance.start()
    app.config["LAB_CONTROL_URL"] = control.url
    yield instance
    control.stop()
    instance.stop()


def _events(device_id: int) -> list[DeviceEvent]:
    db.session.rollback()  # see what the worker committed
    return list(db.session.scalars(select(DeviceEvent).where(DeviceEvent.device_id == device_id).order_by(DeviceEvent.ts)))


def _power_cut(client, device_id: int, serial: str) -> list[DeviceEvent]:
    """Cut the power from the console, restore it, and return the events it added."""
    before = {event.id for event in _events(device_id)}
    client.post("/lab/console/runs", data={"action": "power_cut", "serials": [serial]})
    wait_until(lambda: any(e.code == "transfer.battery" or "battery" in e.text.lower() for e in _events(device_id) if e.id not in before),
               30, "the on-battery event")  # fmt: skip
    client.post("/lab/console/runs", data={"action": "restore", "serials": [serial]})
    wait_until(lambda: len([e for e in _events(device_id) if e.id not in before]) >= 2, 30, "the back-on-line event")
    return [e for e in _events(device_id) if e.id not in before]


def test_moving_the_clock_130_days_keeps_history_and_new_events_carry_lab_time(app, client, worker, fleet):
    owner = make_user()
    login(client, owner)
    serial = sorted(fleet.devices)[0]
    wait_until(lambda: count(Device, Device.serial == serial, Device.model != "") == 1, 30, "the device's hello")
    assert client.post("/devices/claim", data={"serial": serial, "code": claim_code(KEY, serial)}).status_code in (302, 303)
    device_id = db.session.scalar(select(Device.id).where(Device.serial == serial))

    first = _power_cut(client, device_id, serial)
    samples_before = count(TelemetrySample, TelemetrySample.device_id == device_id)
    first_day = clock().today()

    client.post("/lab/clock", data={"days": "130"})
    assert clock().offset() == timedelta(days=130)
    assert abs((from_unix(fleet.clock.now()) - clock().now()).total_seconds()) < 30  # the fleet moved with it

    result = app.test_cli_runner().invoke(args=["maintenance"])
    assert result.exit_code == 0, result.output
    assert "Purged 0 event(s)" in result.output and "folded 0 telemetry" in result.output
    assert {e.id for e in first} <= {e.id for e in _events(device_id)}
    assert count(TelemetrySample, TelemetrySample.device_id == device_id) >= samples_before

    second = _power_cut(client, device_id, serial)
    now = clock().now()
    assert all(abs(e.ts - now) < timedelta(minutes=10) for e in second)  # lab time, not the real time

    log = client.get(f"/devices/{device_id}/events").get_data(as_text=True)  # the last 30 days
    assert second[0].text in log
    report = client.get(f"/reports/outages?start={first_day.isoformat()}&end={clock().today().isoformat()}")
    assert report.status_code == 200
    row = re.search(rf'<tr data-serial="{serial}">(.*?)</tr>', report.get_data(as_text=True), re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row)[0] == "2"  # both outages, before and after the move
    chart = client.get(f"/devices/{device_id}/history.json?range=24h").get_json()
    assert chart["x"] and chart["x"][-1] >= int(now.replace(tzinfo=UTC).timestamp()) - 3600
    early = db.session.scalar(select(TelemetrySample.ts).where(TelemetrySample.device_id == device_id).order_by(TelemetrySample.ts).limit(1))
    assert early < datetime.combine(first_day + timedelta(days=1), datetime.min.time())  # the first samples stay


def test_retention_counts_time_lived_not_clock_moves(app):
    """`flask maintenance`: a record purges once it has lived longer than the window; jumps do not age it."""
    device = make_device(make_user())
    now = clock().now()

    def event(seq: int, age: timedelta) -> None:
        db.session.add(DeviceEvent(device_id=device.id, seq=seq, ts=now - age, code="x", severity="informational", text="t"))

    event(1, timedelta(days=40))  # lived 40 days: past the 30-day window
    event(2, timedelta(days=5))  # lived 5 days
    db.session.commit()
    clock().advance(timedelta(days=130))
    db.session.commit()
    output = app.test_cli_runner().invoke(args=["maintenance"]).output
    assert "Purged 1 event(s)" in output
    assert [e.seq for e in db.session.scalars(select(DeviceEvent))] == [2]


def test_the_cutoff_skips_every_move_made_after_a_record():
    now = datetime(2027, 6, 1)
    window = timedelta(days=30)
    assert cutoff_skipping_moves(now, window, []) == now - window
    # the clock jumped 130 days and has run 10 days since: the window reaches 130 days further back
    jumped = [(now - timedelta(days=140), timedelta(days=130))]
    assert cutoff_skipping_moves(now, window, jumped) == now - window - timedelta(days=130)
    # a jump older than the window changes nothing
    assert cutoff_skipping_moves(now, window, [(now - timedelta(days=65), timedelta(days=5))]) == now - window
    # two jumps inside the window are both skipped
    two = [(now - timedelta(days=30), timedelta(days=20)), (now - timedelta(days=65), timedelta(days=30))]
    assert cutoff_skipping_moves(now, window, two) == now - timedelta(days=30 + 20 + 30)
    # a move back never makes anything older: the cutoff stays where the time lived puts it
    back = [(now - timedelta(days=10), timedelta(days=-20))]
    assert cutoff_skipping_moves(now, window, back) == now - window
