"""The ingest worker stores each status row's reported mode and readings with the status, through a real broker."""

from __future__ import annotations

from sqlalchemy import select

from devicelink import contract
from devicelink.contract import Channel
from portal.extensions import db
from portal.models import Device, DeviceStatus
from portal.services.clock import clock
from portal.services.fleet import operating_modes, stored_facts
from tests.ingest.conftest import wait_until


def _status(serial: str) -> DeviceStatus | None:
    db.session.rollback()  # the worker commits from its own thread
    device_id = db.session.scalar(select(Device.id).where(Device.serial == serial))
    return db.session.get(DeviceStatus, device_id) if device_id else None


def test_ingest_stores_the_mode_and_readings_each_status_change_computes(worker, device):
    ups = device(0)
    ups.hello()
    for ups_status, mode in [("OL CHRG", "online"), ("OB DISCHRG", "on_battery"), ("OB DISCHRG LB", "low_battery"),
                             ("OL RB", "replace_battery"), ("OL TEST", "online"), ("OL", "online")]:
        seq = ups.telemetry(**{"ups.status": ups_status, "battery.charge": 64, "battery.runtime": 900})
        wait_until(lambda seq=seq: (s := _status(ups.serial)) is not None and s.last_seq == seq, what=f"status {ups_status}")
        status = _status(ups.serial)
        assert status.status_mode == mode == operating_modes.status_mode(ups_status)
        assert (status.load_percent, status.charge_percent, status.runtime_s) == (31.5, 64.0, 900.0)
        assert stored_facts.mismatches(clock().today()) == []
    ups.send(Channel.STATE, contract.STATE_LOST, retain=True).wait_for_publish(10)
    wait_until(lambda: not _status(ups.serial).online, what="the lost state")
    assert _status(ups.serial).status_mode == "online"  # what ups.status says; the dashboard puts Offline over it
    assert stored_facts.mismatches(clock().today()) == []


def test_a_device_marked_lost_that_reports_telemetry_is_online_again(worker, device):
    """Its "online" state message can go missing (a broker dropping a broadcast): telemetry proves it is back."""
    ups = device(0)
    ups.hello()
    ups.send(Channel.STATE, contract.STATE_LOST, retain=True).wait_for_publish(10)
    wait_until(lambda: (s := _status(ups.serial)) is not None and not s.online, what="the lost state")
    lost_at = _status(ups.serial).state_changed_at
    seq = ups.telemetry(**{"ups.status": "OL"})
    wait_until(lambda: (s := _status(ups.serial)).last_seq == seq and s.online, what="telemetry to bring it back")
    assert _status(ups.serial).state_changed_at >= lost_at
