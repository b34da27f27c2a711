"""A simulated fleet through three outages and a heat wave, over a real broker and the real ingest worker:
the battery pass measures each battery's health from what ingest stored."""

from __future__ import annotations

from sqlalchemy import select

from devicelink.brokers import MqttEndpoint
from portal.extensions import db
from portal.models import BatteryDischarge, Device, TelemetrySample
from portal.services.battery.discharges import record_discharges
from portal.services.clock import clock
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock
from simulator.scenarios import parse_scenario
from tests.ingest.conftest import count
from tests.support.waiting import wait_until

AGES_YEARS = (0.0, 2.0, 4.0)
SCENARIO = """
name = "Three outages and a heat wave"
[[event]]
at = "10m"
kind = "blackout"
duration = "5m"
[[event]]
at = "3h"
kind = "blackout"
duration = "5m"
[[event]]
at = "4h"
kind = "heat_wave"
temp_c = 38
duration = "4h"
[[event]]
at = "6h"
kind = "blackout"
duration = "5m"
"""
END_S = 6 * 3600 + 20 * 60
SPEED = 750.0  # a 5-minute outage lasts 0.4 s of wall time: a dozen samples even on a busy machine


def test_a_fleet_aged_0_2_4_years_is_ranked_and_measured_within_15_percent(app, worker, broker, identities):
    # Simulated time ends just before the portal's now: ingest refuses readings dated far from arrival.
    sim = SimClock(speed=SPEED, start_s=clock().now().timestamp() - END_S - 600)
    devices = [SimulatedDevice(i, seed=14, sim_start_s=sim.start_s, factory_key=b"unused") for i in identities]
    for simulated, identity, years in zip(devices, identities, AGES_YEARS, strict=True):
        simulated.password = identity.password
        simulated.replace_battery()
        simulated.age_battery(years)
        simulated.set_load(percent=40)
    parse_scenario(SCENARIO).apply(devices, sim.start_s, seed=1)
    fleet = Fleet(devices, MqttEndpoint(broker.host, broker.port, False, None, None), clock=sim, interval_s=0.02)
    fleet.start()
    try:
        wait_until(lambda: sim.now() >= sim.start_s + END_S, timeout_s=90, what="the scenario to play out")
    finally:
        fleet.stop()
    last_seqs = {d.serial: d.seq for d in devices}
    wait_until(
        lambda: count(TelemetrySample) > 0 and _stored_up_to(last_seqs), timeout_s=90, what="ingest to catch up"
    )

    result = record_discharges(now=clock().now(), today=clock().today(), alert_below=0.7)
    db.session.commit()
    assert result.devices == 3

    estimates = {}
    for simulated in devices:
        device = db.session.scalar(select(Device).where(Device.serial == simulated.serial))
        rows = db.session.scalars(
            select(BatteryDischarge).where(BatteryDischarge.device_id == device.id).order_by(BatteryDischarge.started_at)
        ).all()
        outages = [r for r in rows if r.kind == "outage"]
        assert len(outages) == 3, f"{simulated.serial}: {[(r.kind, r.started_at) for r in rows]}"
        assert all(r.health is not None for r in outages)
        estimates[simulated.serial] = rows[-1].estimate_health
        true_health = simulated.state.capacity_fraction
        assert abs(rows[-1].estimate_health - true_health) <= 0.15 * true_health, (simulated.serial, true_health)

    ranked = sorted(estimates, key=estimates.get, reverse=True)
    assert ranked == [d.serial for d in devices]  # newest battery first

    again = record_discharges(now=clock().now(), today=clock().today(), alert_below=0.7)
    assert again.discharges == 0  # the pass is safe to run again


def _stored_up_to(last_seqs: dict[str, int]) -> bool:
    db.session.rollback()
    for serial, seq in last_seqs.items():
        device_id = db.session.scalar(select(Device.id).where(Device.serial == serial))
        if device_id is None:
            return False
        newest = db.session.scalar(
            select(TelemetrySample.seq).where(TelemetrySample.device_id == device_id).order_by(TelemetrySample.seq.desc()).limit(1)
        )
        if newest is None or newest < seq - 50:  # the last few may be events, not samples
            return False
    return True
