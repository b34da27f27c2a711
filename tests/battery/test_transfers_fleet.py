"""Transfers driven through a simulated UPS, a real broker and the real ingest worker: the device's own event log,
as ingest stored it, is counted by reason, short transfers are found, and the advice follows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from devicelink.brokers import MqttEndpoint
from portal.extensions import db
from portal.models import Device, DeviceEvent, DeviceStatus
from portal.services.battery import transfers as t
from portal.services.battery.transfers_query import device_summary
from portal.services.clock import clock
from portal.services.licensing import entitlements
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock
from simulator.scenarios import parse_scenario
from tests.portal.factories import make_device, make_user
from tests.support.waiting import wait_until

SCENARIO = """
name = "Three distortion blips, a blackout and a brownout"
[[event]]
at = "2m"
kind = "distortion"
severity = 0.2
duration = "5s"
[[event]]
at = "4m"
kind = "distortion"
severity = 0.2
duration = "5s"
[[event]]
at = "6m"
kind = "distortion"
severity = 0.2
duration = "5s"
[[event]]
at = "8m"
kind = "blackout"
duration = "2m"
[[event]]
at = "12m"
kind = "brownout"
duration = "2m"
"""
END_S = 16 * 60
SPEED = 60.0  # a second of simulated time per 0.02 s tick


def test_transfers_are_counted_by_reason_through_the_broker_and_ingest(app, worker, broker, identities):
    identity = identities[0]
    # The event log is kept from Standard up (a Basic device's events are not recorded): a trial.
    registered = make_device(make_user(), serial=identity.serial)
    entitlements.start_trial(registered, today=clock().today(), now=clock().now())
    db.session.commit()
    sim = SimClock(speed=SPEED, start_s=clock().now().timestamp() - END_S - 120)
    device = SimulatedDevice(identity, seed=14, sim_start_s=sim.start_s, factory_key=b"unused")
    device.password = identity.password
    device.set_load(percent=30)
    parse_scenario(SCENARIO).apply([device], sim.start_s, seed=1)
    fleet = Fleet([device], MqttEndpoint(broker.host, broker.port, False, None, None), clock=sim, interval_s=0.02)
    fleet.start()
    try:
        wait_until(lambda: sim.now() >= sim.start_s + END_S, timeout_s=120, what="the scenario to play out")
    finally:
        fleet.stop()
    wait_until(lambda: _backs_on_line(identity.serial) >= 5, timeout_s=30, what="ingest to store the events")

    stored = db.session.scalar(select(Device).where(Device.serial == identity.serial))
    start = clock().now() - timedelta(days=1)
    summary = device_summary(stored, start=start, end=clock().now() + timedelta(minutes=5))
    assert summary.by_reason[t.DISTORTION] == 3, summary.by_reason
    assert summary.by_reason[t.BLACKOUT] == 1 and summary.by_reason[t.LOW_VOLTAGE] == 1, summary.by_reason
    assert summary.transfers == 5
    assert summary.short == summary.short_sensitive == 3
    assert 200 <= summary.seconds_on_battery <= 300  # two 2-minute runs and three blips

    sensitivity = db.session.scalar(select(DeviceStatus.variables).where(DeviceStatus.device_id == stored.id))[
        "input.sensitivity"
    ]
    advice = t.sensitivity_advice(summary, sensitivity)
    assert advice is not None and advice.suggested == "reduced"
    assert advice.reason.startswith("3 of 5 transfers lasted 10 s or less and were caused by distortion")


def _backs_on_line(serial: str) -> int:
    db.session.rollback()
    device_id = db.session.scalar(select(Device.id).where(Device.serial == serial))
    return db.session.scalar(
        select(db.func.count(DeviceEvent.id)).where(DeviceEvent.device_id == device_id, DeviceEvent.code == "0x010A")
    ) or 0
