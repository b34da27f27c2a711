"""The lab console's rules: the fleet at a glance, adding and removing devices, scenarios on a selection,
self-tests and calibrations, the speed factor. Every action goes through the simulator's control API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app

from devicelink.provisioning import claim_code, factory_key_from_env
from portal.services.errors import DomainError
from portal.services.lab.control_client import LabControl, LabRefused, LabUnavailable

MAX_ADD = 50  # devices added by one click: a lab for people; the control API takes more
SPEEDS = (1, 10, 60, 600, 3600)
# The console's quick actions, as one-event scenarios of the control API; ageing and heat take a value.
QUICK_ACTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "power_cut": ("Cut power", {"kind": "blackout"}),
    "restore": ("Restore power", {"kind": "restore"}),
    "brownout": ("Brownout", {"kind": "brownout", "severity": 1.0}),
    "surge": ("Surge (10 s)", {"kind": "surge", "duration_s": 10}),
    "ageing": ("Age the battery", {"kind": "ageing"}),
    "heat_wave": ("Heat wave", {"kind": "heat_wave"}),
    "replace_battery": ("Replace the battery", {"kind": "replace_battery"}),
}
TESTS = {"self_test": ("test.battery.start", "Self-test"), "calibration": ("calibrate.start", "Calibration")}


class ConsoleError(DomainError):
    """A console action was refused before reaching the fleet."""


def lab_control() -> LabControl:
    """The control API of the lab's fleet (``UPSCONNECT_LAB_CONTROL_URL``)."""
    return LabControl(current_app.config.get("LAB_CONTROL_URL"))


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


@dataclass
class FleetGlance:
    """What the console shows at the top: the devices and the fleet's clock, or why it cannot."""

    devices: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    scenario_files: dict[str, str] = field(default_factory=dict)
    connected: int = 0
    fleet_now: datetime | None = None
    speed: float | None = None
    ahead_s: float = 0.0  # how far the fleet's simulated time runs ahead of the lab clock
    unavailable: str | None = None


def fleet_at_a_glance(control: LabControl, factory_key: str, lab_now: datetime) -> FleetGlance:
    """Devices (model, connection, LCD status, claim code), runs with progress, simulated time and speed."""
    try:
        devices = control.devices()
        stats = control.stats()
        runs = control.runs()
        files = control.scenario_files()
    except (LabUnavailable, LabRefused) as error:
        return FleetGlance(unavailable=error.message)
    key = factory_key_from_env(factory_key)
    for row in devices:
        row["claim_code"] = claim_code(key, row["serial"])
    fleet_now = from_unix(stats["sim_time_s"])
    for run in runs:
        run["started"] = from_unix(run["started_s"])
        run["ends"] = from_unix(run["ends_s"]) if run["ends_s"] is not None else None
    return FleetGlance(
        devices=sorted(devices, key=lambda d: d["serial"]),
        runs=runs,
        scenario_files=files,
        connected=stats["connected"],
        fleet_now=fleet_now,
        speed=stats["speed"],
        ahead_s=(fleet_now - lab_now).total_seconds(),
    )


def live_panel(control: LabControl, serial: str) -> dict[str, Any]:
    """What one device published last (telemetry and recent events), its timestamps as datetimes."""
    data = control.published(serial)
    if data.get("telemetry"):
        data["telemetry_at"] = from_unix(data["telemetry"]["ts"])
    for event in data.get("events", []):
        event["at"] = from_unix(event["ts"])
    return data


def add_devices(control: LabControl, count: int, seed: int, model: str | None) -> list[dict[str, Any]]:
    """New simulated devices from (count, seed, model): serial, model and claim code of each."""
    if not 1 <= count <= MAX_ADD:
        raise ConsoleError(f"Add between 1 and {MAX_ADD} devices at a time.", "count")
    return control.add_devices(count, seed, model or None)


def remove_devices(control: LabControl, serials: list[str]) -> int:
    """Take the chosen devices out of the lab; the portal keeps their history."""
    if not serials:
        raise ConsoleError("Choose the devices to remove.", "serials")
    for serial in serials:
        control.remove(serial)
    return len(serials)


def start_action(
    control: LabControl,
    action: str,
    serials: list[str] | None,
    *,
    years: float | None = None,
    temp_c: float | None = None,
    minutes: float | None = None,
) -> dict[str, Any]:
    """A quick action or a shipped scenario (``scenario:<file>``) on the chosen devices, None = all."""
    if serials == []:
        raise ConsoleError("Choose at least one device, or run it on the whole fleet.", "serials")
    body: dict[str, Any] = {"serials": serials} if serials else {}
    if action.startswith("scenario:"):
        body["scenario"] = action.removeprefix("scenario:")
        return control.start_run(body)
    if action not in QUICK_ACTIONS:
        raise ConsoleError("Choose what to do.", "action")
    body.update(QUICK_ACTIONS[action][1])
    if action == "ageing":
        if years is None or not 0 < years <= 20:
            raise ConsoleError("Age the battery by 0.1 to 20 years.", "years")
        body["years"] = years
    if action == "heat_wave":
        if temp_c is None or not 30 <= temp_c <= 70:
            raise ConsoleError("A heat wave is between 30 and 70 °C.", "temp_c")
        body["temp_c"] = temp_c
    if minutes is not None and action in ("power_cut", "brownout", "heat_wave"):
        if not 0 < minutes <= 7 * 24 * 60:
            raise ConsoleError("Give a duration between 1 minute and 7 days, or leave it empty.", "minutes")
        body["duration_s"] = minutes * 60
    return control.start_run(body)


def stop_run(control: LabControl, run_id: int) -> dict[str, Any]:
    return control.stop_run(run_id)


def run_tests(control: LabControl, serials: list[str], which: str) -> list[tuple[str, str]]:
    """A self-test or a runtime calibration pressed on each device's LCD: (serial, what it says)."""
    if which not in TESTS:
        raise ConsoleError("Choose a self-test or a calibration.", "test")
    if not serials:
        raise ConsoleError("Choose the devices to test.", "serials")
    answers = []
    for serial in serials:
        try:
            answers.append((serial, control.press(serial, TESTS[which][0])["message"]))
        except LabRefused as error:  # one device refusing (no charge yet) does not stop the others
            answers.append((serial, error.message))
    return answers


def set_speed(control: LabControl, speed: float) -> None:
    if not 0 < speed <= 100_000:
        raise ConsoleError("The speed is between 0.01 and 100000 simulated seconds per second.", "speed")
    control.set_speed(speed)
