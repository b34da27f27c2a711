"""A device cannot poison its own record (issue 16 item 2), on the real brokers with the real worker.

Physically impossible values and timestamps far from arrival are refused and counted by reason (stats
line and Prometheus metrics); an absurd sequence number or a sequence reset never freezes the device.
"""

from __future__ import annotations

import logging
import time

from prometheus_client.core import Metric
from sqlalchemy import select

from devicelink import contract
from devicelink.contract import Channel
from portal.extensions import db
from portal.models import Device, DeviceStatus, TelemetrySample
from tests.ingest.conftest import count, wait_until


def _status(serial: str) -> DeviceStatus:
    db.session.rollback()
    device_id = db.session.scalar(select(Device.id).where(Device.serial == serial))
    return db.session.get(DeviceStatus, device_id)


def _metric(metrics: list[Metric], name: str) -> dict[str, float]:
    [family] = [m for m in metrics if m.name == name]
    return {sample.labels.get("reason", ""): sample.value for sample in family.samples}


def test_poison_payloads_are_refused_and_counted_and_the_device_stays_true(worker, device, caplog):
    ups = device(0)
    ups.hello()
    good = ups.telemetry(**{"battery.charge": 97.0, "battery.runtime": 3300})
    wait_until(lambda: count(TelemetrySample) == 1, what="the first good sample")

    now = time.time()
    poison = [  # (variables, ts, expected reason)
        ({"battery.charge": 1e300}, now, "out_of_range"),
        ({"ups.load": -50}, now, "out_of_range"),
        ({"battery.runtime": -3600}, now, "out_of_range"),
        ({"input.voltage": 9000}, now, "out_of_range"),
        ({"ups.temperature": 400}, now, "out_of_range"),
        ({"battery.charge": "250"}, now, "out_of_range"),  # a number in a string is still a number
        ({}, 0.0, "clock_skew"),  # 1970
        ({}, 253_402_300_799.0, "clock_skew"),  # 9999-12-31
    ]
    for seq, (variables, ts, _) in enumerate(poison, start=good + 1):
        payload = contract.telemetry_payload(ts=ts, seq=seq, variables={"ups.status": "OL", **variables})
        ups.send(Channel.TELEMETRY, payload)
    ups.raw(contract.topic(ups.serial, Channel.TELEMETRY),  # year 36812: not a unix time at all
            contract.encode(contract.telemetry_payload(ts=1_099_511_627_776.0, seq=good + 50, variables={})))
    event = contract.event_payload(ts=0.0, seq=7, code="0x0109", severity="warning", text="UPS: On battery power.")
    ups.send(Channel.EVENT, event)
    # an absurd jump: the highest seq the contract allows, reporting Low Battery and 0 min
    ups.send(Channel.TELEMETRY, contract.telemetry_payload(
        ts=time.time(), seq=2**63 - 1, variables={"ups.status": "OB LB", "battery.runtime": 0, "battery.charge": 0},
    ))  # fmt: skip
    time.sleep(0.05)
    latest = ups.telemetry(**{"battery.charge": 96.0, "battery.runtime": 3200})  # it keeps reporting On Line
    ups.flush()
    wait_until(lambda: _status(ups.serial).variables.get("battery.charge") == 96.0, what="the latest good sample")
    status = _status(ups.serial)
    assert status.ups_status == "OL" and status.last_seq == latest  # not frozen at 2**63 - 1
    db.session.rollback()
    stored = set(db.session.scalars(select(TelemetrySample.seq)))
    assert stored == {good, 2**63 - 1, latest}  # the poison never reached the charts

    worker.log_stats()
    rejected = worker.rejected_by_reason()
    assert rejected == {"malformed": 1, "out_of_range": 6, "clock_skew": 3}
    assert _metric(worker.metrics(), "upsconnect_ingest_rejected") == {
        "malformed": 1, "out_of_range": 6, "clock_skew": 3, "cannot_store": 0,
    }


def test_the_stats_line_shows_rejections_by_reason(worker, device, caplog):
    ups = device(0)
    ups.send(Channel.TELEMETRY, contract.telemetry_payload(ts=time.time(), seq=5, variables={"ups.load": 151}))
    ups.flush()
    wait_until(lambda: worker.rejected_by_reason()["out_of_range"] == 1, what="the rejection counted")
    with caplog.at_level(logging.INFO, logger="upsconnect.ingest"):
        worker.log_stats()
    assert "rejected 1 (malformed 0, out_of_range 1, clock_skew 0)" in caplog.text


def test_a_rebooted_device_whose_sequence_restarted_is_not_frozen(worker, device):
    ups = device(0)
    ups.hello()
    for seq in (500, 501, 502):
        ups.telemetry(seq, **{"battery.charge": 90.0})
    wait_until(lambda: count(TelemetrySample) == 3, what="three samples before the reboot")
    time.sleep(0.05)
    for seq in (1, 2):  # rebooted: its counter starts again
        ups.telemetry(seq, **{"battery.charge": 80.0 + seq})
    ups.flush()
    wait_until(lambda: _status(ups.serial).last_seq == 2, what="the latest row to follow the reboot")
    assert _status(ups.serial).variables["battery.charge"] == 82.0
    assert count(TelemetrySample) == 5
