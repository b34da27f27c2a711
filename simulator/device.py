"""One simulated Smart-UPS: the physics model plus identity, firmware, an LCD and command handlers.

The device steps the pure model on a fixed grid of simulated time (``step_s``), so the same seed and
the same schedule of power events give the same telemetry whatever the wall clock did. It knows
nothing of MQTT: it hands ``(channel, payload, retain)`` to the ``publish`` function it is attached to.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from catalog import firmware
from catalog.ups_models import ModelSpec, model_spec
from devicelink import contract
from devicelink.contract import Channel, CommandType, ResultStatus
from devicelink.provisioning import LAB_FACTORY_KEY, DeviceIdentity, claim_code
from simulator import ups_model
from simulator.ups_model import Event, InputPower, Sensitivity

log = logging.getLogger(__name__)

DEFAULT_STEP_S = 10.0
MAX_STEPS_PER_ADVANCE = 5000  # beyond this a device catches up in one long step (overload, not the norm)

POWER_KINDS = ("blackout", "brownout", "surge", "distortion", "frequency", "restore")
LOAD_PROFILES = ("constant", "office", "datacenter", "ramp")


def input_for(kind: str, spec: ModelSpec, severity: float = 1.0) -> InputPower:
    """The utility feed of a named power problem for this model's nominal input."""
    nominal = InputPower.nominal(spec)
    volts, hertz = nominal.voltage_v, nominal.frequency_hz
    match kind:
        case "blackout":
            return InputPower.blackout()
        case "brownout":  # severity 1: below the low transfer point (battery); 0.5: inside, AVR boosts
            return InputPower(spec.transfer_low_v + 10.0 - 40.0 * (severity - 0.5), hertz)
        case "surge":
            return InputPower(spec.transfer_high_v + 10.0 * severity, hertz, 2.0, 2.0 * severity)
        case "distortion":
            return InputPower(volts, hertz, 10.0 + 15.0 * severity)
        case "frequency":
            return InputPower(volts, hertz + 4.0 * severity)
        case "restore":
            return nominal
    raise ValueError(f"unknown power event {kind!r}; use one of {', '.join(POWER_KINDS)}")


def load_factor(profile: str, sim_time_s: float) -> float:
    """Multiplier of a device's base load at a simulated time (UTC hours for daily shapes)."""
    hour = (sim_time_s % 86400.0) / 3600.0
    match profile:
        case "constant":
            return 1.0
        case "office":  # busy 8-18 on the hour's curve, a third of it at night
            return (
                0.35 + 0.65 * max(0.0, math.sin(math.pi * (hour - 7.0) / 12.0)) if 7 <= hour <= 19 else 0.35
            )
        case "datacenter":
            return 0.9 + 0.1 * math.sin(2 * math.pi * hour / 24.0)
        case "ramp":  # climbs to twice the base over a day, then repeats
            return 1.0 + hour / 24.0
    raise ValueError(f"unknown load profile {profile!r}; use one of {', '.join(LOAD_PROFILES)}")


@dataclass(frozen=True)
class Window:
    """A condition active in ``[start_s, end_s)`` of simulated time."""

    start_s: float
    end_s: float
    value: Any


@dataclass
class _FirmwareJob:
    command_id: str | None
    target: str
    started_s: float
    last_reported: int = -1
    rebooting: bool = False


@dataclass
class _Conditions:
    power: list[Window] = field(default_factory=list)
    ambient: list[Window] = field(default_factory=list)
    load_profile: str = "constant"
    load_scale: float = 1.0
    actions: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)


class SimulatedDevice:
    """A Smart-UPS with network management: telemetry, events, commands and its LCD."""

    def __init__(
        self,
        identity: DeviceIdentity,
        *,
        seed: int = 0,
        sim_start_s: float = 1_700_000_000.0,
        factory_key: bytes = LAB_FACTORY_KEY,
        step_s: float = DEFAULT_STEP_S,
        ambient_temp_c: float = 25.0,
    ) -> None:
        self.identity = identity
        self.serial = identity.serial
        self.password = identity.password
        self.spec = model_spec(identity.model)
        self.firmware = identity.firmware
        self.factory_key = factory_key
        self.step_s = float(step_s)
        self.ambient_temp_c = ambient_temp_c
        self.rng = random.Random(f"device:{seed}:{identity.serial}")
        battery_age_days = self.rng.uniform(0.0, 3.0 * 365.0)
        self.state = ups_model.initial_state(
            self.spec, sim_time_s=sim_start_s, rng=self.rng, battery_age_days=battery_age_days
        )
        # a base load between 15% and 55% of the rating, spread over the outlet groups
        share = self.rng.uniform(0.15, 0.55) * self.spec.w_rating
        weights = [self.rng.uniform(0.5, 1.5) for _ in self.spec.outlet_groups]
        self.base_group_loads_w = tuple(share * w / sum(weights) for w in weights)
        self.conditions = _Conditions()
        self.seq = int(sim_start_s * 1000)  # grows across restarts of a lab, so the portal's dedupe holds
        self._publish: Callable[[Channel, Any, bool], None] = lambda channel, payload, retain: None
        self._reboot: Callable[[float], None] = lambda sim_s: None
        self._firmware_job: _FirmwareJob | None = None
        self._pending: dict[str, str] = {}  # "test" / "calibration" -> command id awaiting completion
        self._seen_commands: deque[str] = deque(maxlen=256)
        self.beeper_status = "enabled"
        self.last_telemetry: dict[str, Any] = {}

    # ---------------------------------------------------------- wiring

    def attach(
        self, publish: Callable[[Channel, Any, bool], None], reboot: Callable[[float], None] | None = None
    ) -> None:
        """Connect the device to its link: ``publish(channel, payload, retain)`` and ``reboot(sim_s)``."""
        self._publish = publish
        if reboot is not None:
            self._reboot = reboot

    @property
    def sim_time_s(self) -> float:
        return self.state.sim_time_s

    def hello(self) -> dict[str, Any]:
        return contract.hello_payload(
            model=self.spec.model,
            sku=self.spec.model,
            serial=self.serial,
            firmware=self.firmware,
            battery_type=self.spec.battery_chemistry,
            outlet_groups=list(self.spec.outlet_groups),
            mac=self.identity.mac,
        )

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _event(self, event: Event) -> None:
        self._publish(
            Channel.EVENT,
            contract.event_payload(
                ts=round(self.state.sim_time_s, 3),
                seq=self._next_seq(),
                code=event.code,
                severity=event.severity,
                text=event.text,
            ),
            False,
        )

    def _result(
        self, command_id: str | None, status: ResultStatus, message: str = "", progress: float | None = None
    ) -> None:
        if command_id is None:
            return
        self._publish(
            Channel.CMD_RESULT,
            contract.result_payload(
                command_id,
                status,
                ts=round(self.state.sim_time_s, 3),
                message=message,
                progress_percent=progress,
            ),
            False,
        )

    # ---------------------------------------------------------- time

    def _power_at(self, sim_s: float) -> InputPower:
        for window in reversed(self.conditions.power):
            if window.start_s <= sim_s < window.end_s:
                return window.value
        return InputPower.nominal(self.spec)

    def _ambient_at(self, sim_s: float) -> float:
        for window in reversed(self.conditions.ambient):
            if window.start_s <= sim_s < window.end_s:
                return window.value
        return self.ambient_temp_c

    def _loads_at(self, sim_s: float) -> tuple[float, ...]:
        factor = load_factor(self.conditions.load_profile, sim_s) * self.conditions.load_scale
        return tuple(load * factor for load in self.base_group_loads_w)

    def advance_to(self, sim_now: float) -> None:
        """Step the model on the grid up to ``sim_now``, publishing its events and command progress."""
        steps = int((sim_now - self.state.sim_time_s) // self.step_s)
        if steps <= 0:
            return
        long_step = 0.0
        if steps > MAX_STEPS_PER_ADVANCE:
            long_step = (steps - MAX_STEPS_PER_ADVANCE) * self.step_s
            steps = MAX_STEPS_PER_ADVANCE
        if long_step:
            self._step(long_step)
        for _ in range(steps):
            self._step(self.step_s)
        self._prune(self.state.sim_time_s)

    def _step(self, dt_s: float) -> None:
        t = self.state.sim_time_s
        if self.conditions.actions and self.conditions.actions[0][0] <= t:
            self._run_due_actions(t)
        before = self.state
        self.state, events = ups_model.step(
            self.state, self.spec, self._power_at(t), self._loads_at(t), dt_s, self.rng, self._ambient_at(t)
        )
        for event in events:
            self._event(event)
        self._follow_commands(before)

    def _prune(self, sim_s: float) -> None:
        c = self.conditions
        c.power = [w for w in c.power if w.end_s > sim_s]
        c.ambient = [w for w in c.ambient if w.end_s > sim_s]

    def tick(self, sim_now: float) -> None:
        """Advance and publish one telemetry sample."""
        self.advance_to(sim_now)
        self.publish_telemetry()

    def publish_telemetry(self) -> None:
        variables = ups_model.telemetry(self.state, self.spec)
        variables["ups.firmware"] = self.firmware
        variables["device.serial"] = self.serial
        variables["device.model"] = self.spec.model
        variables["ups.beeper.status"] = self.beeper_status
        self.last_telemetry = variables
        self._publish(
            Channel.TELEMETRY,
            contract.telemetry_payload(
                ts=round(self.state.sim_time_s, 3), seq=self._next_seq(), variables=variables
            ),
            False,
        )

    # ---------------------------------------------------------- conditions (scenarios, control API)

    def schedule_power(
        self, kind: str, start_s: float, duration_s: float = math.inf, severity: float = 1.0
    ) -> None:
        """A power problem from ``start_s`` for ``duration_s`` simulated seconds; ``restore`` ends all."""
        if kind == "restore":
            self.conditions.power = [
                dataclasses.replace(w, end_s=min(w.end_s, start_s)) for w in self.conditions.power
            ]
            return
        self.conditions.power.append(
            Window(start_s, start_s + duration_s, input_for(kind, self.spec, severity))
        )

    def schedule(self, at_s: float, action: str, **kwargs: Any) -> None:
        """Run ``age_battery``, ``set_load`` or ``replace_battery`` at a simulated time (on the grid)."""
        if action not in ("age_battery", "set_load", "replace_battery"):
            raise ValueError(f"unknown scheduled action {action!r}")
        if action == "set_load":
            _check_load(**kwargs)
        self.conditions.actions.append((at_s, action, kwargs))
        self.conditions.actions.sort(key=lambda item: item[0])
        if at_s <= self.state.sim_time_s:
            self._run_due_actions(self.state.sim_time_s)

    def _run_due_actions(self, sim_s: float) -> None:
        actions = self.conditions.actions
        while actions and actions[0][0] <= sim_s:
            _, action, kwargs = actions.pop(0)
            getattr(self, action)(**kwargs)

    def schedule_heat(self, temp_c: float, start_s: float, duration_s: float = math.inf) -> None:
        self.conditions.ambient.append(Window(start_s, start_s + duration_s, float(temp_c)))

    def end_conditions(self, sim_s: float) -> None:
        """Stop what scenarios put on the timeline: power and heat end at ``sim_s``, later actions are dropped.

        What already happened stays (an aged battery stays aged); the load keeps its current profile.
        """
        self.schedule_power("restore", sim_s)
        self.conditions.ambient = [
            dataclasses.replace(w, end_s=min(w.end_s, sim_s)) for w in self.conditions.ambient
        ]
        self.conditions.actions = [item for item in self.conditions.actions if item[0] <= sim_s]

    def set_load(
        self, *, profile: str | None = None, scale: float | None = None, percent: float | None = None
    ) -> None:
        """Change the load: a daily profile, a scale factor, or an absolute share of the rating."""
        _check_load(profile, scale, percent)
        if profile is not None:
            self.conditions.load_profile = profile
        if scale is not None:
            self.conditions.load_scale = scale
        if percent is not None:
            total = sum(self.base_group_loads_w) or 1.0
            target = self.spec.w_rating * percent / 100.0
            self.base_group_loads_w = tuple(load * target / total for load in self.base_group_loads_w)

    def age_battery(self, years: float) -> None:
        """Make the battery ``years`` older at once (calendar fade at a typical temperature)."""
        if years < 0:
            raise ValueError("years must not be negative")
        seconds = years * ups_model.SECONDS_PER_YEAR
        fade = ups_model.calendar_fade_per_s(self.spec, 25.0 + ups_model.TYPICAL_BATTERY_RISE_C) * seconds
        capacity = max(self.state.capacity_fraction - fade, 0.05)
        was_flagged = self.state.replace_battery
        self.state = dataclasses.replace(
            self.state,
            battery_installed_s=self.state.battery_installed_s - seconds,
            capacity_fraction=capacity,
            capacity_estimate_fraction=min(self.state.capacity_estimate_fraction, capacity),
            replace_battery=capacity < self.spec.replace_below_capacity,
        )
        if self.state.replace_battery and not was_flagged:
            self._event(ups_model.EV_FAULTY_BATTERY)

    def replace_battery(self) -> None:
        self.state = ups_model.replace_battery(self.state, self.spec, sim_time_s=self.state.sim_time_s)

    # ---------------------------------------------------------- commands from the portal

    def handle_command(self, raw: bytes, sim_now: float) -> None:
        """Obey one command from the authenticated link; every command gets a result."""
        self.advance_to(sim_now)
        command, error = contract.decode(Channel.CMD, raw)
        if error is not None:
            command_id = _loose_id(raw)
            log.info("%s: rejected command: %s", self.serial, error)
            self._result(command_id, ResultStatus.FAILED, f"invalid command: {error}")
            return
        if command["id"] in self._seen_commands:
            return  # a QoS 1 redelivery of a command already handled
        self._seen_commands.append(command["id"])
        try:
            self._run_command(command["id"], command["type"], command["args"], source="Protocol")
        except ValueError as exc:
            self._result(command["id"], ResultStatus.FAILED, str(exc))

    def run_command(self, kind: str, args: dict[str, Any] | None = None, source: str = "Protocol") -> str:
        """Obey a command from a local management protocol (the lab's NUT server): the same handlers
        as the portal's commands, with no ``cmd/result`` message; returns what the unit says, raises
        ValueError when it refuses."""
        return self._run_command(None, kind, dict(args or {}), source)

    def set_beeper(self, action: str) -> str:
        """``enable``, ``disable`` or ``mute`` the audible alarm (``ups.beeper.status``); muted stays
        muted until enabled or disabled again."""
        states = {"enable": "enabled", "disable": "disabled", "mute": "muted"}
        if action not in states:
            raise ValueError("beeper action must be enable, disable or mute")
        if action == "mute" and self.beeper_status == "disabled":
            raise ValueError("the beeper is disabled; there is nothing to mute")
        self.beeper_status = states[action]
        return f"beeper {self.beeper_status}"

    def _run_command(self, command_id: str | None, kind: str, args: dict[str, Any], source: str) -> str:
        match kind:
            case CommandType.FIRMWARE_UPGRADE:
                return self._start_firmware(command_id, args.get("version"))
            case CommandType.INPUT_SENSITIVITY:
                sensitivity = Sensitivity(str(args["sensitivity"]).capitalize())
                self.state, events = ups_model.set_sensitivity(self.state, self.spec, sensitivity)
                self._events(events)
                message = f"input sensitivity is {sensitivity.value}"
                self._result(command_id, ResultStatus.DONE, message)
                return message
            case CommandType.TEST_BATTERY_START:
                self.state, events = ups_model.start_self_test(self.state, self.spec)
                self._events(events)
                if self.state.self_test_remaining_s <= 0:
                    raise ValueError(f"self-test refused: {self.state.test_result}")
                if source != "Protocol":
                    self.state = dataclasses.replace(
                        self.state, test_result=self.state.test_result.replace("Protocol", source)
                    )
                self._result(command_id, ResultStatus.ACCEPTED, "self-test started")
                if command_id:
                    self._pending["test"] = command_id
                return "self-test started"
            case CommandType.CALIBRATE_START:
                self.state, events = ups_model.start_calibration(self.state, self.spec)
                self._events(events)
                if not self.state.calibrating:
                    raise ValueError(
                        "runtime calibration refused: it needs 100% charge and at least 10% load on line"
                    )
                self._result(command_id, ResultStatus.ACCEPTED, "runtime calibration started")
                if command_id:
                    self._pending["calibration"] = command_id
                return "runtime calibration started"
            case CommandType.OUTLET_GROUP_OFF | CommandType.OUTLET_GROUP_ON | CommandType.OUTLET_GROUP_CYCLE:
                index = self._group_index(args["group"])
                action = kind.rsplit(".", 1)[1]
                delay = float(args.get("delay_s", 0.0))
                self.state, events = ups_model.outlet_group_command(
                    self.state, self.spec, index, action, delay
                )
                self._events(events)
                name = self.spec.outlet_groups[index]
                message = f"{name}: {action}" + (f" in {delay:g} s" if delay else "")
                self._result(command_id, ResultStatus.DONE, message)
                return message
        raise ValueError(f"unsupported command {kind!r}")

    def _events(self, events: tuple[Event, ...]) -> None:
        for event in events:
            self._event(event)

    def _group_index(self, group: str) -> int:
        names = [name.lower() for name in self.spec.outlet_groups]
        if group.lower() in names:
            return names.index(group.lower())
        if group.isdigit() and int(group) < len(names):
            return int(group)
        raise ValueError(
            f"unknown outlet group {group!r}; this {self.spec.model} has {', '.join(self.spec.outlet_groups)}"
        )

    def _follow_commands(self, before: ups_model.UpsState) -> None:
        """Report completions of long-running commands and the firmware install's phases."""
        state = self.state
        if "test" in self._pending and before.self_test_remaining_s > 0 and state.self_test_remaining_s <= 0:
            result = state.test_result
            status = ResultStatus.DONE if result.startswith("Passed") else ResultStatus.FAILED
            self._result(self._pending.pop("test"), status, f"self-test: {result}")
        if "calibration" in self._pending and before.calibrating and not state.calibrating:
            result = state.calibration_result
            status = (
                ResultStatus.DONE
                if "Aborted" not in result and "Refused" not in result
                else ResultStatus.FAILED
            )
            self._result(self._pending.pop("calibration"), status, f"runtime calibration: {result}")
        if self._firmware_job is not None:
            self._firmware_progress()

    # ---------------------------------------------------------- firmware

    def _start_firmware(self, command_id: str | None, requested: str | None) -> str:
        if self._firmware_job is not None:
            raise ValueError("a firmware install is already running")
        target = firmware.upgrade_target(self.spec.model, self.firmware, requested)
        self._firmware_job = _FirmwareJob(command_id, target, self.state.sim_time_s)
        self._result(command_id, ResultStatus.ACCEPTED, f"installing {target}", 0.0)
        self._event(Event("", "informational", f"UPS: Firmware update to {target} started."))
        return f"installing {target}"

    def _firmware_progress(self) -> None:
        job = self._firmware_job
        assert job is not None
        timing = firmware.INSTALL_TIMING
        elapsed = self.state.sim_time_s - job.started_s
        busy_s = timing.transfer_s + timing.install_s
        if elapsed < busy_s:
            percent = int(90 * elapsed / busy_s) // 10 * 10
            if percent > job.last_reported and percent > 0:
                job.last_reported = percent
                self._result(
                    job.command_id,
                    ResultStatus.PROGRESS,
                    "transferring" if elapsed < timing.transfer_s else "installing",
                    float(percent),
                )
            return
        if not job.rebooting:
            job.rebooting = True
            self.firmware = job.target
            self._result(job.command_id, ResultStatus.PROGRESS, "rebooting", 90.0)
            self._reboot(timing.reboot_s)
            return
        if elapsed >= busy_s + timing.reboot_s:
            self._finish_firmware()

    def on_connected(self) -> None:
        """The link is up again (after a reboot, the new version is in the hello just sent)."""
        job = self._firmware_job
        if job is not None and job.rebooting:
            self._finish_firmware()

    def _finish_firmware(self) -> None:
        job = self._firmware_job
        if job is None:
            return
        self._firmware_job = None
        self._event(Event("", "informational", f"UPS: Firmware update to {job.target} completed."))
        self._result(job.command_id, ResultStatus.DONE, f"firmware is {self.firmware}", 100.0)

    # ---------------------------------------------------------- the LCD

    @property
    def registration_code(self) -> str:
        return claim_code(self.factory_key, self.serial)

    def status_line(self) -> str:
        """The LCD's first line, in the portal's operating-mode words."""
        state = self.state
        if self._firmware_job is not None:
            job = self._firmware_job
            return (
                "Firmware update: rebooting"
                if job.rebooting
                else f"Firmware update {max(job.last_reported, 0)}%"
            )
        runtime_min = int(self.last_telemetry.get("battery.runtime", 0) or 0) // 60
        charge = round(100.0 * state.charge_fraction)
        if not state.output_on:
            return "Output Off"
        if state.calibrating:
            return "Runtime Calibration Initiated"
        if state.self_test_remaining_s > 0:
            return "Self-Test in progress"
        if state.on_battery_power:
            if state.low_battery:
                return f"Low Battery {charge}% {runtime_min} min"
            return f"On Battery {charge}% {runtime_min} min"
        if state.replace_battery:
            return "Replace Battery"
        return f"On Line {charge}% {runtime_min} min"

    def lcd(self) -> dict[str, Any]:
        """What a person reads on the screen."""
        if not self.last_telemetry:
            self.last_telemetry = ups_model.telemetry(self.state, self.spec)
        return {
            "serial": self.serial,
            "model": self.spec.model,
            "status": self.status_line(),
            "registration_code": self.registration_code,
            "firmware": self.firmware,
            "newest_firmware": firmware.newest_version(self.spec.model),
            "sensitivity": self.state.sensitivity.value,
            "test_result": self.state.test_result,
            "load_percent": round(100.0 * self.state.load_w / self.spec.w_rating, 1),
            "battery_charge_percent": round(100.0 * self.state.charge_fraction, 1),
            "sim_time_s": round(self.state.sim_time_s, 3),
        }

    def lcd_action(self, action: str, value: Any = None) -> str:
        """Press an LCD action as a person at the device; returns what the screen says, or ValueError."""
        match action:
            case "firmware.install":
                return self._run_command(
                    None, CommandType.FIRMWARE_UPGRADE, {"version": value} if value else {}, "LocalUI"
                )
            case "test.battery.start":
                return self._run_command(None, CommandType.TEST_BATTERY_START, {}, "LocalUI")
            case "calibrate.start":
                return self._run_command(None, CommandType.CALIBRATE_START, {}, "LocalUI")
            case "input.sensitivity":
                if str(value).lower() not in contract.SENSITIVITIES:
                    raise ValueError(
                        f"sensitivity must be one of {', '.join(sorted(contract.SENSITIVITIES))}"
                    )
                return self._run_command(
                    None, CommandType.INPUT_SENSITIVITY, {"sensitivity": str(value).lower()}, "LocalUI"
                )
        raise ValueError(
            "LCD action must be firmware.install, test.battery.start, calibrate.start or input.sensitivity"
        )


def _check_load(profile: str | None = None, scale: float | None = None, percent: float | None = None) -> None:
    if profile is not None:
        load_factor(profile, 0.0)  # raises for an unknown name
    if scale is not None and not (isinstance(scale, int | float) and 0 <= scale <= 3):
        raise ValueError("load scale must be a number between 0 and 3")
    if percent is not None and not (isinstance(percent, int | float) and 0 <= percent <= 150):
        raise ValueError("load percent must be a number between 0 and 150")


def _loose_id(raw: bytes) -> str | None:
    """The id of a malformed command, if one can be read, so the failure can be reported to it."""
    import json

    try:
        obj = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
