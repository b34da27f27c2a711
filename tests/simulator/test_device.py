"""A simulated device without a broker: determinism, commands and results, firmware, the LCD."""

from __future__ import annotations

import json

import pytest

from catalog import firmware
from devicelink import contract
from devicelink.contract import Channel
from devicelink.provisioning import LAB_FACTORY_KEY, claim_code, manufacture
from simulator.device import SimulatedDevice

START = 1_700_000_000.0


class Wire:
    """Stands in for the fleet: records what the device publishes, and its reboots."""

    def __init__(self) -> None:
        self.sent: list[tuple[Channel, object, bool]] = []
        self.reboots: list[float] = []

    def publish(self, channel, payload, retain):
        assert contract.validate(channel, payload) is None, contract.validate(channel, payload)
        self.sent.append((channel, payload, retain))

    def on(self, channel):
        return [payload for c, payload, _ in self.sent if c == channel]


def make(seed=7, index=0, model=None):
    identity = manufacture(index + 1, seed=seed, models=[model] if model else None)[index]
    device = SimulatedDevice(identity, seed=seed, sim_start_s=START)
    wire = Wire()
    device.attach(wire.publish, wire.reboots.append)
    return device, wire


def run_schedule(device, ticks=30, every_s=60.0):
    for n in range(1, ticks + 1):
        device.tick(START + n * every_s)


def test_same_seed_same_telemetry():
    first, wire1 = make()
    second, wire2 = make()
    for device in (first, second):
        device.schedule_power("blackout", START + 300, 240)
    run_schedule(first)
    run_schedule(second)
    assert wire1.sent == wire2.sent
    other, wire3 = make(seed=8)
    run_schedule(other)
    assert wire3.on(Channel.TELEMETRY) != wire1.on(Channel.TELEMETRY)


def test_wall_jitter_does_not_change_the_values():
    even, wire1 = make()
    jittery, wire2 = make()
    for n in range(1, 31):
        even.tick(START + n * 60.0)
        jittery.tick(START + n * 60.0 + (n % 3))  # late by up to 2 s: still the same grid points
    assert [t["vars"] for t in wire1.on(Channel.TELEMETRY)] == [
        t["vars"] for t in wire2.on(Channel.TELEMETRY)
    ]


def test_blackout_goes_to_battery_and_back_with_events():
    device, wire = make()
    device.schedule_power("blackout", START + 120, 300)
    run_schedule(device, ticks=10)
    statuses = [t["vars"]["ups.status"] for t in wire.on(Channel.TELEMETRY)]
    assert any(s.startswith("OB") for s in statuses) and statuses[-1].startswith("OL")
    codes = [e["code"] for e in wire.on(Channel.EVENT)]
    assert "0x0109" in codes and "0x010A" in codes
    seqs = [p["seq"] for c, p, _ in wire.sent if c in (Channel.TELEMETRY, Channel.EVENT)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def command(kind, args=None):
    payload = contract.command_payload(kind, args, issued_at=START)
    return payload["id"], contract.encode(payload)


def results(wire, command_id):
    return [r for r in wire.on(Channel.CMD_RESULT) if r["id"] == command_id]


@pytest.mark.parametrize(
    ("kind", "args", "final"),
    [
        ("input.sensitivity", {"sensitivity": "reduced"}, "done"),
        ("outlet.group.off", {"group": "Main Outlets"}, "done"),
        ("outlet.group.cycle", {"group": "Outlet Group 9"}, "failed"),
        ("test.battery.start", {}, "done"),
        ("calibrate.start", {}, None),
    ],
)
def test_every_command_gets_a_result(kind, args, final):
    device, wire = make(model="SMT1500IC")
    device.tick(START + 10)
    command_id, raw = command(kind, args)
    device.handle_command(raw, START + 10)
    run_schedule(device, ticks=3)
    got = results(wire, command_id)
    assert got, "no result"
    if final:
        assert got[-1]["status"] == final


def test_self_test_is_accepted_then_reports_its_outcome():
    device, wire = make()
    device.tick(START + 10)
    command_id, raw = command("test.battery.start")
    device.handle_command(raw, START + 10)
    run_schedule(device, ticks=2)
    statuses = [r["status"] for r in results(wire, command_id)]
    assert statuses[0] == "accepted" and statuses[-1] in ("done", "failed")
    assert "Self-Test" in " ".join(e["text"] for e in wire.on(Channel.EVENT))


def test_a_redelivered_command_runs_once():
    device, wire = make()
    command_id, raw = command("input.sensitivity", {"sensitivity": "low"})
    device.handle_command(raw, START)
    device.handle_command(raw, START)
    assert len(results(wire, command_id)) == 1


def test_garbage_commands_never_crash_the_device():
    device, wire = make()
    for raw in (b"\xff", b"{}", b"[]", json.dumps({"id": "x1", "type": "nope"}).encode()):
        device.handle_command(raw, START)
    assert [r["status"] for r in wire.on(Channel.CMD_RESULT)] == ["failed"]  # only the one with an id


def test_firmware_upgrade_progress_reboot_and_new_version():
    device, wire = make(model="SMT750IC")
    old = device.firmware
    command_id, raw = command("firmware.upgrade")
    device.handle_command(raw, START)
    run_schedule(device, ticks=12, every_s=10.0)
    got = results(wire, command_id)
    assert [r["status"] for r in got][0] == "accepted" and got[-1]["status"] == "done"
    percents = [r["progress_percent"] for r in got]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert wire.reboots == [firmware.INSTALL_TIMING.reboot_s]
    assert device.firmware == firmware.newest_version("SMT750IC") != old
    assert device.hello()["firmware"] == device.firmware
    again_id, again = command("firmware.upgrade")
    device.handle_command(again, START + 200)
    assert results(wire, again_id)[-1] == {**results(wire, again_id)[-1], "status": "failed"}


def test_lcd_shows_status_and_registration_code():
    device, _ = make()
    device.tick(START + 10)
    lcd = device.lcd()
    assert lcd["registration_code"] == claim_code(LAB_FACTORY_KEY, device.serial)
    assert lcd["status"].startswith("On Line") and lcd["firmware"] == device.firmware


def test_lcd_actions_as_a_person_at_the_device():
    device, wire = make(model="SMT1500IC")
    device.tick(START + 10)
    assert "installing" in device.lcd_action("firmware.install")
    assert device.lcd()["status"].startswith("Firmware update")
    assert "Low" in device.lcd_action("input.sensitivity", "low")
    with pytest.raises(ValueError, match="sensitivity"):
        device.lcd_action("input.sensitivity", "extreme")
    with pytest.raises(ValueError, match="LCD action"):
        device.lcd_action("format")
    assert not wire.on(Channel.CMD_RESULT)  # LCD actions are not portal commands


def test_ageing_and_heat_wear_the_battery():
    device, wire = make()
    capacity = device.state.capacity_fraction
    device.age_battery(6)
    assert device.state.capacity_fraction < capacity and device.state.replace_battery
    assert any(e["code"] == "0x0119" for e in wire.on(Channel.EVENT))
