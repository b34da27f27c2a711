"""A small fleet against real brokers, checked on the wire by an independent subscriber."""

from __future__ import annotations

import json
import uuid

import pytest

from devicelink import contract
from devicelink.contract import Channel
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock

pytestmark = pytest.mark.timeout(60)


def make_fleet(broker, identities, **kwargs) -> Fleet:
    clock = kwargs.pop("clock", SimClock(speed=kwargs.pop("speed", 10.0), start_s=1_700_000_000.0))
    devices = [SimulatedDevice(identity, seed=7, sim_start_s=clock.start_s) for identity in identities]
    kwargs.setdefault("interval_s", 0.2)
    kwargs.setdefault("backoff_min_s", 0.1)
    kwargs.setdefault("backoff_max_s", 1.0)
    return Fleet(devices, broker.endpoint(), clock=clock, **kwargs)


def test_every_device_says_hello_online_and_sends_valid_telemetry(
    broker, identities, watcher_factory, wait_until
):
    watcher = watcher_factory(broker)
    with make_fleet(broker, identities) as fleet:
        wait_until(lambda: fleet.connected_count() == len(identities), what="all devices connected")
        for identity in identities:
            wait_until(
                lambda i=identity: len(watcher.topic(f"ups/{i.serial}/telemetry")) >= 3, what="telemetry"
            )
            hello = watcher.topic(f"ups/{identity.serial}/hello")[-1]
            assert hello.retain or hello.qos == 1
            payload, error = contract.decode(Channel.HELLO, hello.payload)
            assert (
                error is None and payload["serial"] == identity.serial and payload["model"] == identity.model
            )
            assert watcher.topic(f"ups/{identity.serial}/state")[-1].payload == b"online"
            seqs = []
            for message in watcher.topic(f"ups/{identity.serial}/telemetry"):
                body, error = contract.decode(Channel.TELEMETRY, message.payload)
                assert error is None, error
                seqs.append(body["seq"])
                assert body["vars"]["device.serial"] == identity.serial
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # a clean stop leaves every device "lost" (retained), since a DISCONNECT sends no last will
    for identity in identities:
        wait_until(
            lambda i=identity: watcher.topic(f"ups/{i.serial}/state")[-1].payload == b"lost", what="lost"
        )


def test_a_killed_device_leaves_its_last_will(broker, identities, watcher_factory, wait_until):
    watcher = watcher_factory(broker)
    with make_fleet(broker, identities) as fleet:
        wait_until(lambda: fleet.connected_count() == len(identities), what="all connected")
        victim = identities[0].serial
        # The device must have said "online" before it dies: killed with that PUBLISH still in flight, the
        # embedded broker may deliver it after the will, and the last word would be "online".
        wait_until(lambda: watcher.topic(f"ups/{victim}/state"), what="the victim's online state")
        fleet.kill_device(victim)
        wait_until(
            lambda: (
                watcher.topic(f"ups/{victim}/state")
                and watcher.topic(f"ups/{victim}/state")[-1].payload == b"lost"
            ),
            what="last will",
        )
        assert fleet.connected_count() == len(identities) - 1
    late = watcher_factory(broker, client_id="late-watcher")  # the will was retained
    wait_until(lambda: late.topic(f"ups/{victim}/state"), what="retained state")
    assert late.topic(f"ups/{victim}/state")[-1].payload == b"lost"


def send_command(watcher, serial: str, kind: str, args: dict | None = None) -> str:
    payload = contract.command_payload(kind, args, issued_at=1_700_000_000.0)
    watcher.client.publish(contract.topic(serial, Channel.CMD), contract.encode(payload), qos=1)
    return payload["id"]


def results_for(watcher, serial: str, command_id: str) -> list[dict]:
    out = []
    for message in watcher.topic(f"ups/{serial}/cmd/result"):
        body, error = contract.decode(Channel.CMD_RESULT, message.payload)
        assert error is None, error
        if body["id"] == command_id:
            out.append(body)
    return out


def test_commands_round_trip_with_results(broker, identities, watcher_factory, wait_until):
    watcher = watcher_factory(broker)
    with make_fleet(broker, identities, speed=20.0) as fleet:
        wait_until(lambda: fleet.connected_count() == len(identities), what="all connected")
        serial = identities[1].serial
        sens = send_command(watcher, serial, "input.sensitivity", {"sensitivity": "low"})
        wait_until(
            lambda: any(r["status"] == "done" for r in results_for(watcher, serial, sens)),
            what="sensitivity done",
        )
        assert fleet.call(serial, lambda d: d.state.sensitivity.value) == "Low"

        test = send_command(watcher, serial, "test.battery.start")
        wait_until(
            lambda: any(r["status"] in ("done", "failed") for r in results_for(watcher, serial, test)),
            what="test",
        )
        assert results_for(watcher, serial, test)[0]["status"] == "accepted"

        bad = send_command(watcher, serial, "outlet.group.cycle", {"group": "No Such Group"})
        wait_until(lambda: results_for(watcher, serial, bad), what="failed result")
        assert results_for(watcher, serial, bad)[-1]["status"] == "failed"

        garbage_id = str(uuid.uuid4())
        watcher.client.publish(
            contract.topic(serial, Channel.CMD), json.dumps({"id": garbage_id, "type": "x"}), qos=1
        )
        wait_until(lambda: results_for(watcher, serial, garbage_id), what="result for a malformed command")
        assert "invalid command" in results_for(watcher, serial, garbage_id)[0]["message"]


def test_firmware_upgrade_reports_progress_reboots_and_new_version(
    broker, identities, watcher_factory, wait_until
):
    watcher = watcher_factory(broker)
    with make_fleet(broker, identities, speed=200.0) as fleet:
        wait_until(lambda: fleet.connected_count() == len(identities), what="all connected")
        identity = identities[2]
        command_id = send_command(watcher, identity.serial, "firmware.upgrade")
        wait_until(
            lambda: any(r["status"] == "done" for r in results_for(watcher, identity.serial, command_id)),
            what="firmware done",
        )
        statuses = [r["status"] for r in results_for(watcher, identity.serial, command_id)]
        assert statuses[0] == "accepted" and "progress" in statuses and statuses[-1] == "done"
        percents = [r["progress_percent"] for r in results_for(watcher, identity.serial, command_id)]
        assert percents == sorted(percents) and percents[-1] == 100.0
        states = [m.payload for m in watcher.topic(f"ups/{identity.serial}/state")]
        assert b"lost" in states and states[-1] == b"online"  # the reboot dropped the link
        hello = json.loads(watcher.topic(f"ups/{identity.serial}/hello")[-1].payload)
        assert hello["firmware"] != identity.firmware


def test_no_qos1_message_is_lost_across_a_broker_restart(mosquitto, identities, watcher_factory, wait_until):
    watcher = watcher_factory(mosquitto, client_id="portal-ingest", clean=False)
    with make_fleet(mosquitto, identities) as fleet:
        wait_until(lambda: fleet.connected_count() == len(identities), what="all connected")
        wait_until(lambda: len(watcher.on("/telemetry")) >= 3 * len(identities), what="telemetry flowing")
        mosquitto.stop()  # clean stop: the persistent sessions are saved
        wait_until(lambda: fleet.connected_count() == 0, what="devices noticing the outage")
        published_while_down = fleet.published
        wait_until(
            lambda: fleet.published >= published_while_down + 2 * len(identities), what="queued telemetry"
        )
        mosquitto.start()
        wait_until(lambda: fleet.connected_count() == len(identities), timeout_s=20, what="reconnects")
        last_seq = {serial: fleet.call(serial, lambda d: d.seq) for serial in fleet.devices}
        wait_until(
            lambda: all(max(seqs_on_wire(watcher, s)) >= n for s, n in last_seq.items()), what="backlog"
        )
    # every device's telemetry and events form one unbroken sequence on the wire
    for serial, last in last_seq.items():
        seqs = seqs_on_wire(watcher, serial)
        first = min(seqs)
        missing = set(range(first, last + 1)) - seqs
        assert not missing, f"{serial} lost {sorted(missing)}"


def seqs_on_wire(watcher, serial: str) -> set[int]:
    seqs = {0}
    for name in (f"ups/{serial}/telemetry", f"ups/{serial}/event"):
        seqs |= {json.loads(m.payload)["seq"] for m in watcher.topic(name)}
    return seqs - {0} or {0}
