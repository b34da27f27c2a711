"""How a UPS read from upsd becomes device-link messages (devicelink/nut_mapping.py), on real device dumps."""

from __future__ import annotations

import pytest

from devicelink import contract
from devicelink.contract import Channel, CommandType
from devicelink.nut_mapping import (
    bridged_identity,
    has_serial,
    hello_fields,
    nut_command_candidates,
    offered_commands,
    self_test_event,
    sensitivity_value,
    status_events,
    telemetry_vars,
)
from tests.support.nut_upsd import DUMPS, SMT750_DUMP, SMT2200_ON_BATTERY_DUMP


def dump(name: str) -> dict[str, str]:
    """A .dev file as upsd would list it: ``name: value`` lines, comments dropped."""
    variables = {}
    for line in (DUMPS / name).read_text().splitlines():
        if line.startswith("#") or ": " not in line:
            continue
        key, value = line.split(": ", 1)
        variables[key.strip()] = value.split("\t#")[0].strip()
    return variables


def test_a_ups_is_named_by_its_serial_else_by_a_stable_derived_id():
    smt750 = dump(SMT750_DUMP)  # device.serial is "....": ups.serial wins
    assert bridged_identity(smt750, bridge_id="b1", server="127.0.0.1:3493", ups_name="smt750") == "AS1316113420"
    assert bridged_identity({"device.serial": "as-1250 244567"}, bridge_id="b", server="s", ups_name="u") == "AS1250244567"
    nameless = {"ups.status": "OL", "ups.serial": "...."}
    assert not has_serial(nameless)
    derived = bridged_identity(nameless, bridge_id="b1", server="10.0.0.5:3493", ups_name="rack1")
    assert contract.is_valid_serial(derived) and derived.startswith("NB") and len(derived) == 16
    assert derived == bridged_identity(nameless, bridge_id="b1", server="10.0.0.5:3493", ups_name="rack1")
    assert derived != bridged_identity(nameless, bridge_id="b1", server="10.0.0.5:3493", ups_name="rack2")
    assert derived != bridged_identity(nameless, bridge_id="b2", server="10.0.0.5:3493", ups_name="rack1")


@pytest.mark.parametrize("name", [SMT750_DUMP, SMT2200_ON_BATTERY_DUMP])
def test_hello_and_telemetry_from_real_dumps_pass_the_contract(name):
    variables = dump(name)
    serial = bridged_identity(variables, bridge_id="b", server="s", ups_name="u")
    hello = {"schema": contract.SCHEMA_VERSION, **hello_fields(serial, variables)}
    assert contract.validate(Channel.HELLO, hello) is None
    telemetry = contract.telemetry_payload(ts=1.7e9, seq=1, variables=telemetry_vars(variables))
    assert contract.validate(Channel.TELEMETRY, telemetry) is None
    values = telemetry["vars"]
    assert isinstance(values["battery.charge"], float) and isinstance(values["ups.status"], str)
    assert values["ups.productid"] in {"0002", "0003"}  # looks like a number, is an id
    assert not any(key.startswith("driver.parameter.") for key in values)


def test_the_smt750_dump_names_its_outlet_groups():
    hello = hello_fields("AS1316113420", dump(SMT750_DUMP))
    assert hello["outlet_groups"] == ["UPS Outlets", "Outlet Group 1"]
    assert hello["model"] == "Smart-UPS 750" and hello["firmware"] == "UPS 09.8"
    assert hello["mac"].startswith("02:")  # locally administered: upsd does not know the UPS's own


def test_status_changes_become_apcs_events():
    assert [e.code for e in status_events("OL", "OB DISCHRG")] == ["0x0109"]
    assert status_events("OL", "OB DISCHRG")[0].text == "UPS: On battery power in response to an input power problem."
    assert [e.code for e in status_events("OB DISCHRG", "OB DISCHRG LB")] == ["0x010F"]
    assert [e.code for e in status_events("OB LB", "OL CHRG")] == ["0x010A", "0x0110"]
    assert status_events("OL", "OL CHRG") == []
    assert [e.code for e in status_events(None, "OB DISCHRG")] == ["0x0109"]  # first read: on battery already
    assert status_events("OL", "OL FUTURE-FLAG") == []  # unknown tokens are tolerated


def test_a_finished_self_test_is_an_event():
    assert self_test_event("In progress", "Done and passed").code == "0x0105"
    assert self_test_event("No test initiated", "Failed, Source: Protocol").text == "UPS: Self-Test failed."
    assert self_test_event("Done and passed", "Done and passed") is None


def test_commands_map_to_what_the_driver_lists():
    groups = ["UPS Outlets", "Outlet Group 1"]
    assert nut_command_candidates(CommandType.TEST_BATTERY_START, {}, groups) == ["test.battery.start"]
    assert nut_command_candidates(CommandType.OUTLET_GROUP_CYCLE, {"group": "Outlet Group 1"}, groups) == [
        "outlet.group.1.load.cycle"
    ]
    assert nut_command_candidates(CommandType.OUTLET_GROUP_OFF, {"group": "UPS Outlets"}, groups) == [
        "outlet.group.0.load.off", "load.off"
    ]
    assert nut_command_candidates(CommandType.OUTLET_GROUP_OFF, {"group": "Nope"}, groups) == []
    assert offered_commands(["load.off"], groups) == {CommandType.OUTLET_GROUP_OFF}  # what dummy-ups lists
    assert offered_commands(["test.battery.start", "input.sensitivity"], groups) == {
        CommandType.TEST_BATTERY_START, CommandType.INPUT_SENSITIVITY
    }


def test_sensitivity_uses_the_drivers_word():
    assert sensitivity_value("normal", ["high", "medium", "low"]) == "high"
    assert sensitivity_value("reduced", ["Normal", "Reduced", "Low"]) == "Reduced"
    assert sensitivity_value("low", []) is None


@pytest.mark.parametrize("path", sorted(DUMPS.glob("*.dev")), ids=lambda p: p.name)
def test_every_real_devices_values_are_physically_possible(path):
    """The sane-data bands (issue 16) must hold for what real UPSes report through NUT."""
    values = telemetry_vars(dump(path.name))
    assert contract.check_physical(values) is None, values
    payload = contract.telemetry_payload(ts=1.7e9, seq=1, variables=values)
    assert contract.check_plausible(Channel.TELEMETRY, payload, arrival_s=1.7e9 + 30) is None


def test_real_hardwares_odd_values_stay_valid():
    odd = telemetry_vars({"battery.runtime": "65535", "outlet.1.delay.shutdown": "-1", "ups.delay.start": "-1",
                          "battery.charge": "100", "ups.load": "0", "input.voltage": "0.0"})
    assert contract.check_physical(odd) is None
