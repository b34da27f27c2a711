"""The ingest worker against real brokers (embedded amqtt and a private Mosquitto) and real publishers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
from sqlalchemy import select

from devicelink import contract
from devicelink.brokers import MqttEndpoint
from devicelink.contract import Channel
from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceStatus, TelemetrySample
from portal.services.clock import clock
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock
from tests.ingest.conftest import PORTAL_PASSWORD, PORTAL_USER, count, wait_until


def test_telemetry_lands_and_a_new_device_appears_unclaimed(worker, device):
    ups = device(0)
    ups.hello()
    for _ in range(25):
        ups.telemetry(**{"battery.charge": 97.0})
    wait_until(lambda: count(TelemetrySample) == 25, what="25 samples stored")

    stored = db.session.scalar(select(Device).where(Device.serial == ups.serial))
    assert (stored.model, stored.firmware, stored.owner_company_id) == (
        ups.identity.model,
        ups.identity.firmware,
        None,
    )
    status = db.session.get(DeviceStatus, stored.id)
    assert status.online and status.last_seq == ups.seq
    assert status.variables["battery.charge"] == 97.0
    assert worker.counters["malformed"] == 0


def test_redelivered_messages_are_stored_once(worker, device):
    ups = device(0)
    seqs = [ups.telemetry() for _ in range(10)]
    for seq in seqs:  # what the device sends again after a reconnect, with the same sequence numbers
        ups.telemetry(seq)
    ups.flush()
    wait_until(lambda: worker.counters["duplicates"] == 10, what="10 duplicates counted")
    assert count(TelemetrySample) == 10


def test_malformed_payloads_are_counted_and_dropped_and_the_worker_keeps_going(worker, device, broker):
    ups = device(0)
    _publish_as_portal(
        broker, "ups/not-a-serial/telemetry", b"{}"
    )  # matches ups/+/telemetry, not the contract
    telemetry_topic = contract.topic(ups.serial, Channel.TELEMETRY)
    ups.raw(telemetry_topic, b"{not json")
    ups.raw(telemetry_topic, b"\xff\xfe\x00")
    ups.raw(telemetry_topic, b'{"schema":2,"ts":1,"seq":1,"vars":{}}')
    ups.raw(telemetry_topic, b'{"schema":1,"ts":"yesterday","seq":-1,"vars":{}}')
    ups.raw(contract.topic(ups.serial, Channel.EVENT), b'{"schema":1}')
    ups.raw(contract.topic(ups.serial, Channel.STATE), b"maybe")
    good = ups.telemetry()
    wait_until(lambda: count(TelemetrySample) == 1, what="the good sample after the bad ones")
    assert db.session.scalar(select(TelemetrySample.seq)) == good
    assert worker.counters["malformed"] == 7
    assert worker.counters["stored.telemetry"] == 1


def _publish_as_portal(broker, topic: str, payload: bytes) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(PORTAL_USER, PORTAL_PASSWORD)
    client.connect(broker.host, broker.service_port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_device_cannot_publish_under_another_serial(worker, device, identities):
    intruder = device(0)
    victim = identities[1].serial
    for seq in range(5):
        intruder.send(
            Channel.TELEMETRY, contract.telemetry_payload(ts=1.0, seq=seq, variables={}), serial=victim
        )
    intruder.send(Channel.HELLO, {**_hello(identities[1])}, retain=True, serial=victim)
    marker = (
        intruder.telemetry()
    )  # the broker keeps order: once this is stored, the refused ones would be too
    wait_until(lambda: count(TelemetrySample) == 1, what="the intruder's own sample")
    assert db.session.scalar(select(TelemetrySample.seq)) == marker
    assert count(Device, Device.serial == victim) == 0
    assert worker.counters["received"] == 1


def _hello(identity):
    return contract.hello_payload(
        model=identity.model, sku=identity.model, serial=identity.serial, firmware=identity.firmware,
        battery_type="lead-acid", outlet_groups=["Main Outlets"], mac=identity.mac,
    )  # fmt: skip


def test_command_results_update_the_command_and_unknown_ids_are_dropped(worker, device):
    ups = device(0)
    ups.hello()
    wait_until(lambda: count(Device, Device.serial == ups.serial) == 1, what="the device row")
    device_id = db.session.scalar(select(Device.id).where(Device.serial == ups.serial))
    command_id = str(uuid.uuid4())
    now = clock().now()  # the worker times out commands left open too long: this one is fresh
    db.session.add(
        DeviceCommand(
            id=command_id,
            device_id=device_id,
            type="firmware.upgrade",
            issued_at=now,
            status="sent",
            updated_at=now,
        )
    )
    db.session.commit()

    ups.send(
        Channel.CMD_RESULT,
        contract.result_payload(command_id, "progress", ts=2.0, progress_percent=40.0, message="installing"),
    )
    ups.send(Channel.CMD_RESULT, contract.result_payload(str(uuid.uuid4()), "done", ts=3.0))
    wait_until(lambda: worker.counters["results.unknown_command"] == 1, what="the unknown result counted")
    db.session.rollback()
    command = db.session.get(DeviceCommand, command_id)
    assert (command.status, command.progress_percent, command.message) == ("progress", 40, "installing")


def test_the_worker_times_out_commands_nobody_answered_without_anyone_looking(worker, device):
    ups = device(0)
    ups.hello()
    wait_until(lambda: count(Device, Device.serial == ups.serial) == 1, what="the device row")
    device_id = db.session.scalar(select(Device.id).where(Device.serial == ups.serial))
    sent_at = clock().now() - timedelta(minutes=3)
    for command_type in ("test.battery.start", "firmware.upgrade"):  # firmware has 15 minutes
        db.session.add(
            DeviceCommand(
                id=str(uuid.uuid4()), device_id=device_id, type=command_type, issued_at=sent_at, status="sent",
                updated_at=sent_at,
            )
        )  # fmt: skip
    db.session.commit()
    wait_until(
        lambda: count(DeviceCommand, DeviceCommand.status == "timed_out") == 1,
        timeout_s=5,
        what="the housekeeping pass",
    )
    timed_out = db.session.scalar(select(DeviceCommand).where(DeviceCommand.status == "timed_out"))
    assert timed_out.type == "test.battery.start" and timed_out.message == "The device did not answer in time."
    wait_until(lambda: worker.counters["commands.timed_out"] == 1, timeout_s=2, what="the counter")


def test_a_simulated_fleet_is_ingested(worker, broker, identities):
    clock = SimClock(speed=1.0)
    devices = [
        SimulatedDevice(i, seed=3, sim_start_s=clock.start_s, factory_key=b"unused") for i in identities
    ]
    for simulated, identity in zip(devices, identities, strict=True):
        simulated.password = identity.password
    fleet = Fleet(
        devices, MqttEndpoint(broker.host, broker.port, False, None, None), clock=clock, interval_s=0.1
    )
    fleet.start()
    try:
        wait_until(lambda: count(TelemetrySample) >= 40, what="40 samples from the fleet")
        wait_until(lambda: count(Device, Device.model != "") == len(identities), what="every device's hello")
        wait_until(
            lambda: count(DeviceStatus, DeviceStatus.online.is_(True)) == len(identities), what="all online"
        )
    finally:
        fleet.stop()
    wait_until(
        lambda: count(DeviceStatus, DeviceStatus.online.is_(False)) == len(identities), what="all lost"
    )
    assert worker.counters["malformed"] == 0
