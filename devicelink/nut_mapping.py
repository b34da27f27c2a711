"""How a UPS behind upsd maps onto the device link: identity, hello, telemetry, events and commands.

Pure functions and tables, shared by the bridge agent (``devicelink/nut_bridge.py``) and the portal
(which commands a bridged UPS offers). Documented in ``docs/nut.md``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devicelink.contract import FIRMWARE_RE, NUT_NAME_RE, CommandType, is_valid_serial

BRIDGED_ID_PREFIX = "NB"
MAX_VARS = 256
MAX_STRING = 256
# Variables that look like numbers but are names or codes ("000123" serials, "0003" product ids).
STRING_SUFFIXES = (".serial", ".model", ".mfr", ".id", ".productid", ".vendorid", ".firmware", ".name",
                   ".date", ".version", ".type", ".status", ".result", ".port", ".bus", ".device")
SKIPPED_PREFIXES = ("driver.parameter.", "server.")  # the bridge host's own settings, not the UPS's


@dataclass(frozen=True)
class StatusEvent:
    """An APC event-log entry the bridge derives from a change of ``ups.status`` or the test result."""

    code: str
    severity: str
    text: str


# (NUT status flag, event when it appears, event when it clears), in APC's wording where APC has one.
FLAG_EVENTS: tuple[tuple[str, StatusEvent | None, StatusEvent | None], ...] = (
    ("OB", StatusEvent("0x0109", "warning", "UPS: On battery power in response to an input power problem."),
     StatusEvent("0x010A", "informational", "UPS: No longer on battery power.")),
    ("LB", StatusEvent("0x010F", "critical", "UPS: The battery power is too low to continue to support the load; "
                       "the UPS will shut down if input power does not return to normal soon."),
     StatusEvent("0x0110", "informational", "UPS: A low battery condition no longer exists.")),
    ("RB", StatusEvent("0x0119", "critical", "UPS: At least one faulty battery exists."), None),
    ("OVER", StatusEvent("0x0103", "critical", "UPS: The load exceeds 100% of rated capacity."),
     StatusEvent("", "informational", "UPS: The load no longer exceeds 100% of rated capacity.")),
    ("OFF", StatusEvent("0x0114", "informational", "UPS: The output power is turned off."),
     StatusEvent("0x0113", "informational", "UPS: The output power is now turned on.")),
    ("BOOST", StatusEvent("", "informational", "UPS: Compensating for a low input voltage."),
     StatusEvent("", "informational", "UPS: No longer compensating for a low input voltage.")),
    ("TRIM", StatusEvent("", "informational", "UPS: Compensating for a high input voltage."),
     StatusEvent("", "informational", "UPS: No longer compensating for a high input voltage.")),
    ("CAL", StatusEvent("", "informational", "UPS: Runtime calibration initiated."),
     StatusEvent("", "informational", "UPS: Runtime calibration completed.")),
)
TEST_PASSED = StatusEvent("0x0105", "informational", "UPS: Self-Test passed.")
TEST_FAILED = StatusEvent("", "warning", "UPS: Self-Test failed.")

# Portal command -> NUT instant command; outlet commands are per group (see outlet_command).
INSTCMD_FOR = {
    CommandType.TEST_BATTERY_START: "test.battery.start",
    CommandType.CALIBRATE_START: "calibrate.start",
}
OUTLET_ACTION = {
    CommandType.OUTLET_GROUP_OFF: "off",
    CommandType.OUTLET_GROUP_ON: "on",
    CommandType.OUTLET_GROUP_CYCLE: "cycle",
}
# The portal's sensitivity words -> what drivers call them (APC usbhid says high/medium/low).
SENSITIVITY_NAMES = {"normal": ("normal", "high"), "reduced": ("reduced", "medium"), "low": ("low",)}


def _clean_serial(text: str | None) -> str | None:
    serial = re.sub(r"[^A-Za-z0-9]", "", text or "").upper()
    return serial if is_valid_serial(serial) else None


def has_serial(variables: Mapping[str, str]) -> bool:
    return any(_clean_serial(variables.get(name)) for name in ("ups.serial", "device.serial"))


def bridged_identity(variables: Mapping[str, str], *, bridge_id: str, server: str, ups_name: str) -> str:
    """The UPS's serial (``ups.serial``, else ``device.serial``), else a stable id from bridge, upsd and name."""
    for name in ("ups.serial", "device.serial"):
        serial = _clean_serial(variables.get(name))
        if serial:
            return serial
    digest = hashlib.sha256(f"{bridge_id}|{server}|{ups_name}".encode()).digest()
    return BRIDGED_ID_PREFIX + base64.b32encode(digest).decode()[:14]


def _text(value: str | None, fallback: str, max_len: int = 40) -> str:
    text = " ".join((value or "").split())[:max_len]
    return text or fallback


def outlet_groups(variables: Mapping[str, str]) -> list[str]:
    """Named outlet groups in index order; a UPS without them has one, its output."""
    named = []
    for index in range(8):
        name = _text(variables.get(f"outlet.group.{index}.name"), "")
        if name:
            named.append(name)
    return named or ["UPS Outlets"]


def hello_fields(serial: str, variables: Mapping[str, str]) -> dict[str, Any]:
    """What the hello says about a bridged UPS; the MAC is a locally administered one derived from the id."""
    model = _text(variables.get("ups.model") or variables.get("device.model"), "UPS")
    firmware = _text(variables.get("ups.firmware"), "unknown")
    if not FIRMWARE_RE.fullmatch(firmware):
        firmware = "unknown"
    battery = (variables.get("battery.type") or "").lower()
    digest = hashlib.sha256(b"nut-bridge-mac:" + serial.encode()).digest()
    mac = "02:" + ":".join(f"{b:02X}" for b in digest[:5])
    return {
        "model": model,
        "sku": model,
        "serial": serial,
        "firmware": firmware,
        "battery_type": "li-ion" if battery.startswith("li") else "lead-acid",
        "outlet_groups": outlet_groups(variables),
        "mac": mac,
    }


def _value(name: str, raw: str) -> Any:
    if not name.endswith(STRING_SUFFIXES):
        try:
            number = float(raw)
        except ValueError:
            pass
        else:
            if number == number and abs(number) != float("inf"):
                return number
    return raw[:MAX_STRING]


def telemetry_vars(variables: Mapping[str, str]) -> dict[str, Any]:
    """upsd's strings as telemetry: numbers where they are numbers, names checked, at most 256."""
    out: dict[str, Any] = {}
    for name in sorted(variables):
        if len(out) >= MAX_VARS:
            break
        if name.startswith(SKIPPED_PREFIXES) or len(name) > 64 or not NUT_NAME_RE.fullmatch(name):
            continue
        out[name] = _value(name, variables[name])
    return out


def status_flags(status: str | None) -> frozenset[str]:
    return frozenset((status or "").split())


def status_events(before: str | None, after: str | None) -> list[StatusEvent]:
    """Events for the flags that appeared or cleared between two ``ups.status`` values."""
    old, new = status_flags(before), status_flags(after)
    events = []
    for flag, appeared, cleared in FLAG_EVENTS:
        if flag in new and flag not in old and appeared is not None:
            events.append(appeared)
        elif flag in old and flag not in new and cleared is not None:
            events.append(cleared)
    return events


def self_test_event(before: str | None, after: str | None) -> StatusEvent | None:
    """A self-test that finished: ``ups.test.result`` changed to a pass or a failure."""
    if not after or after == before:
        return None
    lowered = after.lower()
    if "fail" in lowered or "error" in lowered or "warning" in lowered:
        return TEST_FAILED
    if "pass" in lowered:
        return TEST_PASSED
    return None


def outlet_command(group_index: int, action: str) -> str:
    """NUT's name for an outlet group action; group 0 is the whole output (``load.off`` / ``load.on``)."""
    return f"outlet.group.{group_index}.load.{action}"


def nut_command_candidates(command: CommandType, args: Mapping[str, Any], groups: list[str]) -> list[str]:
    """The NUT instant commands that carry a portal command, best first; empty when none can."""
    if command in INSTCMD_FOR:
        return [INSTCMD_FOR[command]]
    if command in OUTLET_ACTION:
        action = OUTLET_ACTION[command]
        group = args.get("group")
        if group not in groups:
            return []
        index = groups.index(group)
        candidates = [outlet_command(index, action)]
        if index == 0 and action in ("off", "on"):
            candidates.append(f"load.{action}")
        return candidates
    return []


def offered_commands(nut_commands: Iterable[str], groups: list[str]) -> set[CommandType]:
    """Portal commands a bridged UPS can run, given what upsd lists in LIST CMD and LIST RW."""
    listed = set(nut_commands)
    offered = {CommandType.INPUT_SENSITIVITY} if "input.sensitivity" in listed else set()
    offered |= {command for command, name in INSTCMD_FOR.items() if name in listed}
    for command in OUTLET_ACTION:
        for group in groups:
            if listed & set(nut_command_candidates(command, {"group": group}, groups)):
                offered.add(command)
    return offered


def sensitivity_value(wanted: str, accepted: Iterable[str]) -> str | None:
    """The driver's word for the portal's sensitivity, from LIST ENUM; None when it has none."""
    accepted = list(accepted)
    for name in SENSITIVITY_NAMES.get(wanted, ()):
        for value in accepted:
            if value.lower() == name:
                return value
    return None
