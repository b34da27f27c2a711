"""Pure physics of a line-interactive Smart-UPS: battery, input transfer, outlets, ageing, tests.

No I/O, no wall clock, no global randomness: time is `sim_time_s` supplied by the caller and every
random draw comes from the `random.Random` passed in. See docs/simulator-model.md for figures and sources.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields
from datetime import date, timedelta
from enum import StrEnum

from catalog.ups_models import LI_ION, ModelSpec

SECONDS_PER_DAY = 86400.0
SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY

CHARGE_LOW_PERCENT = 10  # [dump] battery.charge.low
CHARGE_WARNING_PERCENT = 50  # [dump] battery.charge.warning
RUNTIME_LOW_S = 120  # [dump] battery.runtime.low
SELF_TEST_DURATION_S = 10.0  # [est] a Smart-UPS self-test runs on battery for a few seconds
CALIBRATION_MIN_LOAD_PERCENT = 10.0  # [apc]
CALIBRATION_END_CHARGE = 0.25  # [est] calibration discharges to about a quarter, then returns on line
FULL_CHARGE = 0.9995  # charge shown as 100% and accepted as "full"
# Sub-step limits: on battery thresholds (LB, empty) must not be skipped; on line only slow quantities move.
MAX_SUBSTEP_ON_BATTERY_S = 10.0
MAX_SUBSTEP_ON_LINE_S = 3600.0
UPS_TEMP_TAU_S = 900.0  # [est] thermal lag of the electronics
BATTERY_TEMP_TAU_S = 3600.0  # [est] thermal lag of the battery block
AVR_BOOST_GAIN = 1.09  # [est] output/input ratio while boosting
AVR_TRIM_GAIN = 0.92  # [est] output/input ratio while trimming
RETURN_HYSTERESIS = 0.02  # fraction of nominal the input must be back inside the transfer points
LOAD_READING_MAX_PERCENT = 150.0  # [est] the load reading saturates here (the contract's upper bound too)


class Sensitivity(StrEnum):
    """Input sensitivity: how readily distortion, dV/dt and frequency send the unit to battery."""

    NORMAL = "Normal"
    REDUCED = "Reduced"
    LOW = "Low"


@dataclass(frozen=True, slots=True)
class _SensitivityLimits:
    thd_percent: float
    dv_dt_v_per_ms: float
    frequency_dev_hz: float


# [est] APC publishes no numbers; Normal transfers on the most disturbances, Low on the fewest [apc FA156514].
SENSITIVITY_LIMITS: dict[Sensitivity, _SensitivityLimits] = {
    Sensitivity.NORMAL: _SensitivityLimits(thd_percent=8.0, dv_dt_v_per_ms=1.0, frequency_dev_hz=3.0),
    Sensitivity.REDUCED: _SensitivityLimits(thd_percent=15.0, dv_dt_v_per_ms=3.0, frequency_dev_hz=5.0),
    Sensitivity.LOW: _SensitivityLimits(thd_percent=25.0, dv_dt_v_per_ms=8.0, frequency_dev_hz=8.0),
}


@dataclass(frozen=True, slots=True)
class InputPower:
    """The utility feed over one step: RMS voltage, frequency, distortion and rate of RMS change."""

    voltage_v: float
    frequency_hz: float
    thd_percent: float = 2.0
    dv_dt_v_per_ms: float = 0.0

    @staticmethod
    def nominal(spec: ModelSpec) -> InputPower:
        """Clean mains at the model's nominal voltage and frequency."""
        return InputPower(float(spec.nominal_input_v), float(spec.nominal_frequency_hz))

    @staticmethod
    def blackout() -> InputPower:
        """No input at all."""
        return InputPower(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Event:
    """One event-log entry: APC code ("" where APC has none), severity and APC's wording."""

    code: str
    severity: str  # "critical" | "warning" | "informational"
    text: str


# APC event-log wording (ups-physics.md).
EV_ON_BATTERY = Event("0x0109", "warning", "UPS: On battery power in response to an input power problem.")
EV_ON_BATTERY_RAPID = Event(
    "0x0109", "warning", "UPS: On battery power in response to rapid change of input."
)
EV_ON_BATTERY_DISTORTED = Event("0x0109", "warning", "UPS: On battery power in response to distorted input.")
EV_OFF_BATTERY = Event("0x010A", "informational", "UPS: No longer on battery power.")
EV_LOW_BATTERY = Event(
    "0x010F",
    "critical",
    "UPS: The battery power is too low to continue to support the load; "
    "the UPS will shut down if input power does not return to normal soon.",
)
EV_LOW_BATTERY_CLEARED = Event("0x0110", "informational", "UPS: A low battery condition no longer exists.")
EV_DISCHARGED = Event(
    "0x0107",
    "critical",
    "UPS: The battery power is too low to support the load; "
    "if power fails, the UPS will be shut down immediately.",
)
EV_DISCHARGED_CLEARED = Event(
    "0x0108", "informational", "UPS: A discharged battery condition no longer exists."
)
EV_OUTPUT_OFF_EXHAUSTED = Event("0x0114", "critical", "UPS: The output power is turned off.")
EV_OUTPUT_OFF = Event("0x0114", "informational", "UPS: The output power is turned off.")
EV_OUTPUT_ON = Event("0x0113", "informational", "UPS: The output power is now turned on.")
EV_FAULTY_BATTERY = Event("0x0119", "critical", "UPS: At least one faulty battery exists.")
EV_OVERLOAD = Event("0x0103", "critical", "UPS: The load exceeds 100% of rated capacity.")
EV_OVERLOAD_CLEARED = Event("", "informational", "UPS: The load no longer exceeds 100% of rated capacity.")
EV_SELF_TEST_STARTED = Event("0x0137", "informational", "UPS: Self-Test started by management device.")
EV_SELF_TEST_PASSED = Event("0x0105", "informational", "UPS: Self-Test passed.")
EV_SELF_TEST_FAILED = Event("", "warning", "UPS: Self-Test failed.")
EV_SELF_TEST_REFUSED = Event("", "warning", "UPS: Self-Test refused.")
EV_BOOST = Event("", "informational", "UPS: Compensating for a low input voltage.")
EV_BOOST_END = Event("", "informational", "UPS: No longer compensating for a low input voltage.")
EV_TRIM = Event("", "informational", "UPS: Compensating for a high input voltage.")
EV_TRIM_END = Event("", "informational", "UPS: No longer compensating for a high input voltage.")
EV_CALIBRATION_STARTED = Event("", "informational", "UPS: Runtime calibration initiated.")
EV_CALIBRATION_ENDED = Event("", "informational", "UPS: Runtime calibration completed.")
EV_CALIBRATION_ABORTED = Event("", "warning", "UPS: Runtime calibration aborted.")
EV_CALIBRATION_REFUSED = Event(
    "", "warning", "UPS: Runtime calibration refused; it needs 100% battery charge and at least 10% load."
)


@dataclass(frozen=True, slots=True)
class OutletGroupState:
    """One outlet group: whether it is powered and any delayed command waiting on it."""

    name: str
    on: bool = True
    pending_action: str = ""  # "" | "off" | "on" | "cycle"
    pending_at_s: float = 0.0


@dataclass(frozen=True, slots=True)
class UpsState:
    """Everything a unit remembers between steps; frozen, so a step returns a new one."""

    sim_time_s: float
    output_on: bool
    on_battery: bool  # running from battery because of an input problem
    off_reason: str  # "" | "exhausted" | "command"
    input_ok: bool
    charge_fraction: float  # state of charge of the present capacity, 0-1
    capacity_fraction: float  # battery health: capacity relative to new, 0-1
    capacity_estimate_fraction: float  # the firmware's belief of capacity, set by runtime calibration
    battery_installed_s: float
    battery_cycles: float  # equivalent full discharges since install
    ups_temp_c: float
    battery_temp_c: float
    outlet_groups: tuple[OutletGroupState, ...]
    sensitivity: Sensitivity
    input_voltage_v: float
    input_frequency_hz: float
    load_w: float  # load actually served
    group_loads_w: tuple[float, ...]  # served per group
    avr: str  # "" | "TRIM" | "BOOST"
    transfer_reason: str
    self_test_remaining_s: float
    test_result: str
    calibrating: bool
    calibration_result: str
    low_battery: bool
    overloaded: bool
    replace_battery: bool
    discharged: bool
    battery_float_offset_v: float  # this unit's charger set-point spread
    noise: float  # measurement noise in [-1, 1], redrawn every step

    @property
    def on_battery_power(self) -> bool:
        """True while the load runs from the battery (input problem, self-test or calibration)."""
        return self.output_on and (self.on_battery or self.self_test_remaining_s > 0 or self.calibrating)


_FIELD_NAMES = tuple(f.name for f in fields(UpsState))


class _Work:
    """A mutable working copy of UpsState for the inside of one step (cheaper than many replaces)."""

    __slots__ = _FIELD_NAMES

    def __init__(self, state: UpsState) -> None:
        for name in _FIELD_NAMES:
            setattr(self, name, getattr(state, name))

    def freeze(self) -> UpsState:
        return UpsState(*[getattr(self, name) for name in _FIELD_NAMES])


# ---------------------------------------------------------------- battery figures


def battery_temp_factor(spec: ModelSpec, battery_temp_c: float) -> float:
    """Available capacity relative to 25 C: cold batteries deliver less."""
    factor = 1.0 + spec.capacity_temp_coeff_per_c * (battery_temp_c - 25.0)
    return min(max(factor, 0.5), 1.05)


def calendar_fade_per_s(spec: ModelSpec, battery_temp_c: float) -> float:
    """Capacity lost per second of float life; doubles every life_halving_temp_c above 25 C."""
    base = (1.0 - spec.replace_below_capacity) / (spec.design_life_years_25c * SECONDS_PER_YEAR)
    return base * 2.0 ** ((battery_temp_c - 25.0) / spec.life_halving_temp_c)


def cycle_fade_per_cycle(spec: ModelSpec) -> float:
    """Capacity lost per equivalent full discharge."""
    return (1.0 - spec.replace_below_capacity) / spec.cycle_life


def expected_life_s(spec: ModelSpec, battery_temp_c: float) -> float:
    """Float life of a new battery until it reaches the replace limit, kept at battery_temp_c."""
    return (1.0 - spec.replace_below_capacity) / calendar_fade_per_s(spec, battery_temp_c)


def _steady_temps_c(load_fraction: float, on_battery: bool, ambient_temp_c: float) -> tuple[float, float]:
    """Steady internal and battery temperature for a load [est]; the inverter heats more on battery."""
    ups_c = ambient_temp_c + 5.0 + 15.0 * load_fraction + (10.0 * load_fraction if on_battery else 0.0)
    battery_c = ambient_temp_c + 2.0 + 6.0 * load_fraction
    return ups_c, battery_c


TYPICAL_BATTERY_RISE_C = 2.0  # battery above room at light load, used for replace-by dates


def runtime_s(
    spec: ModelSpec, load_w: float, charge_fraction: float, capacity_fraction: float, temp_c: float
) -> float:
    """Seconds left on battery at a constant load."""
    full_s = spec.full_charge_runtime_s(spec.battery_power_w(load_w))
    return full_s * charge_fraction * capacity_fraction * battery_temp_factor(spec, temp_c)


def predict_runtime_s(
    spec: ModelSpec,
    *,
    load_percent: float,
    charge_percent: float = 100.0,
    battery_age_years: float = 0.0,
    temperature_c: float = 25.0,
) -> float:
    """Runtime at a load (% of W rating) for a battery aged on float at temperature_c."""
    fade = calendar_fade_per_s(spec, temperature_c) * battery_age_years * SECONDS_PER_YEAR
    capacity = max(1.0 - fade, 0.0)
    load_w = spec.w_rating * load_percent / 100.0
    return runtime_s(spec, load_w, charge_percent / 100.0, capacity, temperature_c)


# ---------------------------------------------------------------- input


def input_fault(spec: ModelSpec, power: InputPower, sensitivity: Sensitivity, on_battery: bool) -> str:
    """The APC transfer reason this input calls for, or "" when it is acceptable."""
    margin_v = spec.nominal_input_v * RETURN_HYSTERESIS if on_battery else 0.0
    voltage_v = power.voltage_v
    if voltage_v < spec.transfer_low_v + margin_v:
        return "LowInputVoltage"
    if voltage_v > spec.transfer_high_v - margin_v:
        return "HighInputVoltage"
    limits = SENSITIVITY_LIMITS[sensitivity]
    deviation_hz = power.frequency_hz - spec.nominal_frequency_hz
    if deviation_hz > limits.frequency_dev_hz:
        return "HighInputFrequency"
    if deviation_hz < -limits.frequency_dev_hz:
        return "LowInputFrequency"
    if abs(power.dv_dt_v_per_ms) > limits.dv_dt_v_per_ms:
        return "RapidChangeOfInputVoltage"
    if power.thd_percent > limits.thd_percent:
        return "DistortedInput"
    return ""


def avr_thresholds_v(spec: ModelSpec) -> tuple[float, float]:
    """(boost below, trim above): halfway between nominal and each transfer point [est]."""
    nominal = spec.nominal_input_v
    return nominal - 0.5 * (nominal - spec.transfer_low_v), nominal + 0.5 * (spec.transfer_high_v - nominal)


def _avr_mode(spec: ModelSpec, voltage_v: float, current: str) -> str:
    boost_below_v, trim_above_v = avr_thresholds_v(spec)
    band_v = spec.nominal_input_v * 0.01  # hysteresis so a noisy feed does not chatter
    if voltage_v < boost_below_v or (current == "BOOST" and voltage_v < boost_below_v + band_v):
        return "BOOST"
    if voltage_v > trim_above_v or (current == "TRIM" and voltage_v > trim_above_v - band_v):
        return "TRIM"
    return ""


def _on_battery_event(reason: str) -> Event:
    if reason == "RapidChangeOfInputVoltage":
        return EV_ON_BATTERY_RAPID
    if reason == "DistortedInput":
        return EV_ON_BATTERY_DISTORTED
    return EV_ON_BATTERY


# ---------------------------------------------------------------- state


def initial_state(
    spec: ModelSpec,
    *,
    sim_time_s: float,
    rng: random.Random,
    battery_age_days: float = 0.0,
    sensitivity: Sensitivity = Sensitivity.NORMAL,
) -> UpsState:
    """A unit on line, fully charged, its battery installed battery_age_days ago at a typical temperature."""
    age_s = battery_age_days * SECONDS_PER_DAY
    capacity = max(1.0 - calendar_fade_per_s(spec, 25.0 + TYPICAL_BATTERY_RISE_C) * age_s, 0.05)
    ups_c, battery_c = _steady_temps_c(0.0, False, 25.0)
    return UpsState(
        sim_time_s=float(sim_time_s),
        output_on=True,
        on_battery=False,
        off_reason="",
        input_ok=True,
        charge_fraction=1.0,
        capacity_fraction=capacity,
        capacity_estimate_fraction=capacity,
        battery_installed_s=float(sim_time_s) - age_s,
        battery_cycles=0.0,
        ups_temp_c=ups_c,
        battery_temp_c=battery_c,
        outlet_groups=tuple(OutletGroupState(name) for name in spec.outlet_groups),
        sensitivity=sensitivity,
        input_voltage_v=float(spec.nominal_input_v),
        input_frequency_hz=float(spec.nominal_frequency_hz),
        load_w=0.0,
        group_loads_w=(0.0,) * len(spec.outlet_groups),
        avr="",
        transfer_reason="SystemInitialization",
        self_test_remaining_s=0.0,
        test_result="No test initiated",
        calibrating=False,
        calibration_result="No calibration initiated",
        low_battery=False,
        overloaded=False,
        replace_battery=capacity < spec.replace_below_capacity,
        discharged=False,
        battery_float_offset_v=rng.uniform(-0.01, 0.01) * spec.pack_nominal_v,
        noise=rng.uniform(-1.0, 1.0),
    )


def replace_battery(state: UpsState, spec: ModelSpec, *, sim_time_s: float) -> UpsState:
    """A new battery: full health, new install date, RB cleared; charge carries over (decision)."""
    w = _Work(state)
    w.capacity_fraction = 1.0
    w.capacity_estimate_fraction = 1.0
    w.battery_installed_s = float(sim_time_s)
    w.battery_cycles = 0.0
    w.replace_battery = False
    return w.freeze()


# ---------------------------------------------------------------- step


def _charge(spec: ModelSpec, charge: float, dt_s: float) -> float:
    """Exact recharge over dt_s: constant rate to 90% (bulk), then an exponential absorption tail."""
    rate_per_s = 0.9 / spec.recharge_to_90_s
    if charge < 0.9:
        bulk_s = (0.9 - charge) / rate_per_s
        if dt_s <= bulk_s:
            return charge + rate_per_s * dt_s
        charge, dt_s = 0.9, dt_s - bulk_s
    # Continuous with the bulk rate at 90%: d(1-q)/dt = -(1-q) * rate / 0.1
    gap = (1.0 - charge) * math.exp(-dt_s * rate_per_s / 0.1)
    return 1.0 if gap < 1.0 - FULL_CHARGE else 1.0 - gap


def _apply_group_action(w: _Work, spec: ModelSpec, group: int, action: str, events: list[Event]) -> None:
    """Carry out an outlet-group action now (main group 0 switches the whole output)."""
    groups = list(w.outlet_groups)
    name = groups[group].name
    if action == "cycle":
        _apply_group_action(w, spec, group, "off", events)
        groups = list(w.outlet_groups)
        groups[group] = OutletGroupState(name, False, "on", w.sim_time_s + spec.outlet_reboot_delay_s)
        w.outlet_groups = tuple(groups)
        return
    turn_on = action == "on"
    groups[group] = OutletGroupState(name, turn_on)
    if group == 0:
        if turn_on:
            if not w.input_ok and w.charge_fraction <= 0.0:
                return  # nothing to power the output with
            groups = [OutletGroupState(g.name, True, g.pending_action, g.pending_at_s) for g in groups]
            groups[0] = OutletGroupState(name, True)
            if not w.output_on:
                w.output_on, w.off_reason = True, ""
                w.on_battery = not w.input_ok
                events.append(EV_OUTPUT_ON)
        elif w.output_on:
            w.output_on, w.off_reason = False, "command"
            w.self_test_remaining_s, w.calibrating = 0.0, False
            events.append(EV_OUTPUT_OFF)
        w.outlet_groups = tuple(groups)
        return
    w.outlet_groups = tuple(groups)
    state_word = "on" if turn_on else "off"
    events.append(
        Event(
            "",
            "informational",
            f"UPS: Outlet Group {group}, {name}, turned {state_word} due to user control.",
        )
    )


def _demand_per_group_w(spec: ModelSpec, group_loads_w: tuple[float, ...]) -> tuple[float, ...]:
    """The load offered to each outlet group, padded with zeros; more loads than groups is a caller error."""
    n_groups = len(spec.outlet_groups)
    if len(group_loads_w) > n_groups:
        raise ValueError(f"{spec.model} has {n_groups} outlet groups, got {len(group_loads_w)} loads")
    return tuple(group_loads_w) + (0.0,) * (n_groups - len(group_loads_w))


# The phases of step(), in order. Each works on the step's _Work copy and appends to its events list;
# none reads a clock or draws a random number, so a phase is a deterministic function of its arguments.


def _apply_due_outlet_actions(w: _Work, spec: ModelSpec, events: list[Event]) -> None:
    """Carry out delayed outlet commands whose time has come, before anything reads the outlet groups."""
    for index, group in enumerate(w.outlet_groups):
        if group.pending_action and group.pending_at_s <= w.sim_time_s + 1e-9:
            _apply_group_action(w, spec, index, group.pending_action, events)


def _transfer(w: _Work, fault_on_line: str, fault_on_battery: str, events: list[Event]) -> None:
    """Go to battery on an input fault (aborting a test or calibration), or back on line once it clears."""
    fault = fault_on_battery if (w.on_battery or not w.output_on) else fault_on_line
    w.input_ok = not fault
    if w.output_on and not w.on_battery and fault:
        w.on_battery, w.transfer_reason = True, fault
        if w.self_test_remaining_s > 0:
            w.self_test_remaining_s = 0.0
            w.test_result = w.test_result.replace("InProgress", "Aborted")
        if w.calibrating:
            w.calibrating, w.calibration_result = False, "Aborted"
            events.append(EV_CALIBRATION_ABORTED)
        events.append(_on_battery_event(fault))
    elif not fault and (w.on_battery or (not w.output_on and w.off_reason == "exhausted")):
        events.append(EV_OFF_BATTERY)
        if w.low_battery:
            w.low_battery = False
            events.append(EV_LOW_BATTERY_CLEARED)
        if not w.output_on:  # automatic restart when input returns
            w.output_on, w.off_reason = True, ""
            events.append(EV_OUTPUT_ON)
        w.on_battery, w.transfer_reason = False, "AcceptableInput"


def _follow_avr(w: _Work, spec: ModelSpec, input_voltage_v: float, events: list[Event]) -> None:
    """BOOST or TRIM a low or high input while the output runs on line, so the load sees near-nominal volts."""
    on_line_output = w.output_on and not w.on_battery
    avr = _avr_mode(spec, input_voltage_v, w.avr) if on_line_output else ""
    if avr != w.avr:
        if w.avr:
            events.append(EV_BOOST_END if w.avr == "BOOST" else EV_TRIM_END)
        if avr:
            events.append(EV_BOOST if avr == "BOOST" else EV_TRIM)
        w.avr = avr


def _serve_load_w(w: _Work, spec: ModelSpec, demand_w: tuple[float, ...], events: list[Event]) -> None:
    """Set load_w from the groups that are powered (none with the output or main group off); flag overload."""
    if w.output_on and w.outlet_groups[0].on:
        served = tuple(d if g.on else 0.0 for d, g in zip(demand_w, w.outlet_groups, strict=True))
    else:
        served = (0.0,) * len(demand_w)
    w.group_loads_w, w.load_w = served, sum(served)
    overloaded = w.load_w > spec.w_rating
    if overloaded != w.overloaded:
        w.overloaded = overloaded
        events.append(EV_OVERLOAD if overloaded else EV_OVERLOAD_CLEARED)


def _substep_s(w: _Work, remaining_s: float, from_battery: bool) -> float:
    """Next sub-step: at most 10 s on battery (no LB skipped), 1 h on line, cut at due outlet actions and test end."""
    h_s = min(remaining_s, MAX_SUBSTEP_ON_BATTERY_S if from_battery else MAX_SUBSTEP_ON_LINE_S)
    for group in w.outlet_groups:
        # Only actions still ahead cut the sub-step: one already due that could not run (the output's "on"
        # with no input and a flat battery) waits for power; a zero-length sub-step would never advance.
        if group.pending_action and 0.0 < group.pending_at_s - w.sim_time_s < h_s:
            h_s = group.pending_at_s - w.sim_time_s
    if 0.0 < w.self_test_remaining_s < h_s:
        h_s = w.self_test_remaining_s
    return h_s


def _charge_or_drain(w: _Work, spec: ModelSpec, h_s: float, from_battery: bool) -> tuple[float, bool]:
    """Drain the charge at the load's rate (ending the sub-step exactly when empty) or recharge on good input.

    Returns the sub-step actually run and whether the battery ran flat in it.
    """
    if from_battery:
        battery_w = spec.battery_power_w(w.load_w)
        usable = w.capacity_fraction * battery_temp_factor(spec, w.battery_temp_c)
        rate_per_s = 1.0 / (spec.full_charge_runtime_s(battery_w) * max(usable, 1e-6))
        used = rate_per_s * h_s
        exhausted = False
        if used >= w.charge_fraction:
            used, h_s, exhausted = w.charge_fraction, w.charge_fraction / rate_per_s, True
        w.charge_fraction -= used
        w.battery_cycles += used
        w.capacity_fraction -= used * cycle_fade_per_cycle(spec)
        return h_s, exhausted
    if w.input_ok and w.charge_fraction < 1.0:
        w.charge_fraction = _charge(spec, w.charge_fraction, h_s)
    return h_s, False


def _age_and_heat(w: _Work, spec: ModelSpec, h_s: float, from_battery: bool, ambient_temp_c: float) -> None:
    """Calendar fade at the battery's temperature, and both temperatures relaxing towards their steady values.

    Exact for a constant target over the sub-step, so long on-line sub-steps integrate correctly.
    """
    w.capacity_fraction = max(w.capacity_fraction - calendar_fade_per_s(spec, w.battery_temp_c) * h_s, 0.05)
    ups_target_c, battery_target_c = _steady_temps_c(w.load_w / spec.w_rating, from_battery, ambient_temp_c)
    w.ups_temp_c += (ups_target_c - w.ups_temp_c) * (1.0 - math.exp(-h_s / UPS_TEMP_TAU_S))
    w.battery_temp_c += (battery_target_c - w.battery_temp_c) * (1.0 - math.exp(-h_s / BATTERY_TEMP_TAU_S))


def _shut_down_exhausted(w: _Work, events: list[Event]) -> None:
    """The battery ran flat: on battery the output goes off (LB first); a test or calibration returns to line."""
    w.charge_fraction = 0.0
    if not w.low_battery and w.on_battery:
        w.low_battery = True
        events.append(EV_LOW_BATTERY)
    if w.on_battery:
        w.output_on, w.off_reason, w.transfer_reason = False, "exhausted", "LowBatteryVoltage"
        events.append(EV_OUTPUT_OFF_EXHAUSTED)
    else:  # a test or calibration ran the battery flat: back to line
        w.self_test_remaining_s = 0.0
        w.calibrating = False


def _raise_battery_alarms(w: _Work, spec: ModelSpec, events: list[Event]) -> None:
    """Low battery (on battery), discharged (on line) and replace battery, each raised once on its transition."""
    lb_charge = CHARGE_LOW_PERCENT / 100.0
    if w.on_battery and w.output_on and not w.low_battery:
        left_s = runtime_s(spec, w.load_w, w.charge_fraction, w.capacity_estimate_fraction, w.battery_temp_c)
        if w.charge_fraction < lb_charge or left_s < RUNTIME_LOW_S:
            w.low_battery = True
            events.append(EV_LOW_BATTERY)
    discharged = w.input_ok and not w.on_battery and w.charge_fraction < lb_charge
    if discharged != w.discharged:
        w.discharged = discharged
        events.append(EV_DISCHARGED if discharged else EV_DISCHARGED_CLEARED)
    if not w.replace_battery and w.capacity_fraction < spec.replace_below_capacity:
        w.replace_battery = True
        events.append(EV_FAULTY_BATTERY)


def _advance_tests(w: _Work, spec: ModelSpec, h_s: float, events: list[Event]) -> None:
    """Count a self-test down and judge it at the end; end a calibration at 25 % charge, learning the capacity."""
    if w.self_test_remaining_s > 0:
        w.self_test_remaining_s = max(w.self_test_remaining_s - h_s, 0.0)
        if w.self_test_remaining_s <= 1e-9:
            w.self_test_remaining_s = 0.0
            _finish_self_test(w, spec, events)
    if w.calibrating and w.charge_fraction <= CALIBRATION_END_CHARGE:
        w.calibrating = False
        w.capacity_estimate_fraction = w.capacity_fraction
        w.calibration_result = "Passed"
        w.transfer_reason = "TestEnded"
        events.append(EV_CALIBRATION_ENDED)


def _finish_self_test(w: _Work, spec: ModelSpec, events: list[Event]) -> None:
    """Judge the self-test by battery health; a failure also raises replace battery."""
    source = w.test_result.partition(", ")[2] or "Source: Protocol"
    passed = w.capacity_fraction >= spec.replace_below_capacity
    w.test_result = f"{'Passed' if passed else 'Failed'}, {source}"
    w.transfer_reason = "TestEnded"
    if passed:
        events.append(EV_SELF_TEST_PASSED)
        return
    events.append(EV_SELF_TEST_FAILED)
    if not w.replace_battery:
        w.replace_battery = True
        events.append(EV_FAULTY_BATTERY)


def step(
    state: UpsState,
    spec: ModelSpec,
    power: InputPower,
    group_loads_w: tuple[float, ...],
    dt_s: float,
    rng: random.Random,
    ambient_temp_c: float = 25.0,
) -> tuple[UpsState, tuple[Event, ...]]:
    """Advance dt_s of simulated time under a constant input and load; return the new state and its events.

    Each sub-step runs the phases below in order on one working copy of the state. The first four (outlet
    actions, transfer, AVR, load) run once more at t + dt_s, so the returned state shows the input there.
    """
    if dt_s < 0:
        raise ValueError(f"dt_s must not be negative, got {dt_s}")
    demand_w = _demand_per_group_w(spec, group_loads_w)
    w = _Work(state)
    events: list[Event] = []
    fault_on_line = input_fault(spec, power, w.sensitivity, on_battery=False)
    fault_on_battery = input_fault(spec, power, w.sensitivity, on_battery=True)
    w.input_voltage_v, w.input_frequency_hz = power.voltage_v, power.frequency_hz
    w.noise = rng.uniform(-1.0, 1.0)
    t_end_s = w.sim_time_s + dt_s
    while True:
        _apply_due_outlet_actions(w, spec, events)
        _transfer(w, fault_on_line, fault_on_battery, events)
        _follow_avr(w, spec, power.voltage_v, events)
        _serve_load_w(w, spec, demand_w, events)
        remaining_s = t_end_s - w.sim_time_s
        if remaining_s <= 1e-9:
            return w.freeze(), tuple(events)
        from_battery = w.output_on and (w.on_battery or w.self_test_remaining_s > 0 or w.calibrating)
        h_s = _substep_s(w, remaining_s, from_battery)
        h_s, exhausted = _charge_or_drain(w, spec, h_s, from_battery)
        _age_and_heat(w, spec, h_s, from_battery, ambient_temp_c)
        w.sim_time_s += h_s
        if exhausted:
            _shut_down_exhausted(w, events)
        _raise_battery_alarms(w, spec, events)
        _advance_tests(w, spec, h_s, events)


# ---------------------------------------------------------------- commands


def _busy_or_off_line(state: UpsState) -> bool:
    return not state.output_on or state.on_battery or state.self_test_remaining_s > 0 or state.calibrating


def start_self_test(state: UpsState, spec: ModelSpec) -> tuple[UpsState, tuple[Event, ...]]:
    """Start a battery self-test (runs on battery); refused unless on line and idle."""
    w = _Work(state)
    if _busy_or_off_line(state) or not state.input_ok:
        w.test_result = "Refused, Source: Protocol"
        return w.freeze(), (EV_SELF_TEST_REFUSED,)
    w.self_test_remaining_s = SELF_TEST_DURATION_S
    w.test_result = "InProgress, Source: Protocol"
    w.transfer_reason = "AutomaticTest"
    return w.freeze(), (EV_SELF_TEST_STARTED,)


def start_calibration(state: UpsState, spec: ModelSpec) -> tuple[UpsState, tuple[Event, ...]]:
    """Start a runtime calibration; refused unless on line at 100% charge and at least 10% load."""
    w = _Work(state)
    load_percent = 100.0 * state.load_w / spec.w_rating
    if (
        _busy_or_off_line(state)
        or not state.input_ok
        or state.charge_fraction < FULL_CHARGE
        or load_percent < CALIBRATION_MIN_LOAD_PERCENT
    ):
        w.calibration_result = "Refused"
        return w.freeze(), (EV_CALIBRATION_REFUSED,)
    w.calibrating = True
    w.calibration_result = "InProgress"
    w.transfer_reason = "AutomaticTest"
    return w.freeze(), (EV_CALIBRATION_STARTED,)


def set_sensitivity(
    state: UpsState, spec: ModelSpec, sensitivity: Sensitivity
) -> tuple[UpsState, tuple[Event, ...]]:
    """Change the input sensitivity (takes effect from the next step)."""
    sensitivity = Sensitivity(sensitivity)
    if sensitivity == state.sensitivity:
        return state, ()
    w = _Work(state)
    w.sensitivity = sensitivity
    return w.freeze(), (
        Event("", "informational", f"UPS: Input sensitivity changed to {sensitivity.value}."),
    )


OUTLET_ACTIONS = ("off", "on", "cycle")


def outlet_group_command(
    state: UpsState, spec: ModelSpec, group: int, action: str, delay_s: float = 0.0
) -> tuple[UpsState, tuple[Event, ...]]:
    """Switch an outlet group off, on, or cycle it (off, wait the reboot delay, on), after delay_s."""
    if not 0 <= group < len(spec.outlet_groups):
        raise ValueError(f"{spec.model} has outlet groups 0-{len(spec.outlet_groups) - 1}, not {group}")
    if action not in OUTLET_ACTIONS:
        raise ValueError(f"Unknown outlet action {action!r}; use one of {', '.join(OUTLET_ACTIONS)}")
    if delay_s < 0:
        raise ValueError(f"delay_s must not be negative, got {delay_s}")
    w = _Work(state)
    events: list[Event] = []
    if delay_s > 0:
        groups = list(w.outlet_groups)
        old = groups[group]
        groups[group] = OutletGroupState(old.name, old.on, action, w.sim_time_s + delay_s)
        w.outlet_groups = tuple(groups)
    else:
        _apply_group_action(w, spec, group, action, events)
    return w.freeze(), tuple(events)


# ---------------------------------------------------------------- telemetry


def _iso_date(sim_time_s: float) -> str:
    return (date(1970, 1, 1) + timedelta(days=math.floor(sim_time_s / SECONDS_PER_DAY))).isoformat()


def ups_status(state: UpsState) -> str:
    """NUT ups.status tokens."""
    if not state.output_on:
        tokens = ["OFF"]
    elif state.on_battery_power:
        tokens = ["OB", "DISCHRG"]
        if state.low_battery:
            tokens.append("LB")
        if state.calibrating:
            tokens.append("CAL")
        if state.self_test_remaining_s > 0:
            tokens.append("TEST")
    else:
        tokens = ["OL"]
        if state.avr:
            tokens.append(state.avr)
        if state.charge_fraction < 1.0:
            tokens.append("CHRG")
    if state.overloaded:
        tokens.append("OVER")
    if state.replace_battery:
        tokens.append("RB")
    return " ".join(tokens)


def battery_voltage_v(state: UpsState, spec: ModelSpec) -> float:
    """Pack voltage: float on line, rising while charging; sagging with load and lower charge on battery."""
    nominal_v = spec.pack_nominal_v
    q = state.charge_fraction
    li_ion = spec.battery_chemistry == LI_ION
    if state.on_battery_power:
        empty, full, sag = (0.88, 1.10, 0.05) if li_ion else (0.99, 1.075, 0.125)
        load_ratio = spec.battery_power_w(state.load_w) / spec.full_load_battery_w
        volts = nominal_v * (empty + (full - empty) * q - sag * load_ratio)
    else:
        base, span = (1.0, 0.1) if li_ion else (1.07, 0.055)  # float 2.25 V/cell for lead-acid [apc]
        volts = nominal_v * (base + span * q) + state.battery_float_offset_v
    return volts + 0.02 * state.noise


def telemetry(state: UpsState, spec: ModelSpec) -> dict[str, str | int | float]:
    """NUT variables for the state, with NUT units (%, s, V, Hz, W, C)."""
    on_battery = state.on_battery_power
    nominal_v = spec.nominal_input_v
    if not state.output_on:
        output_v, output_hz = 0.0, 0.0
    elif on_battery:
        output_v, output_hz = nominal_v + 0.3 * state.noise, float(spec.nominal_frequency_hz)
    else:
        gain = AVR_BOOST_GAIN if state.avr == "BOOST" else AVR_TRIM_GAIN if state.avr == "TRIM" else 1.0
        output_v, output_hz = state.input_voltage_v * gain, state.input_frequency_hz
    left_s = runtime_s(
        spec, state.load_w, state.charge_fraction, state.capacity_estimate_fraction, state.battery_temp_c
    )
    replace_by_s = state.battery_installed_s + expected_life_s(spec, 25.0 + TYPICAL_BATTERY_RISE_C)
    values: dict[str, str | int | float] = {
        "ups.status": ups_status(state),
        "ups.load": round(min(LOAD_READING_MAX_PERCENT, 100.0 * state.load_w / spec.w_rating), 1),
        "ups.realpower": round(state.load_w, 1),
        "ups.realpower.nominal": spec.w_rating,
        "ups.power.nominal": spec.va_rating,
        "ups.temperature": round(state.ups_temp_c, 1),
        "ups.test.result": state.test_result,
        "experimental.calibration.result": state.calibration_result,
        "input.voltage": round(state.input_voltage_v, 1),
        "input.voltage.nominal": nominal_v,
        "input.frequency": round(state.input_frequency_hz, 2),
        "input.transfer.low": spec.transfer_low_v,
        "input.transfer.high": spec.transfer_high_v,
        "input.transfer.reason": state.transfer_reason,
        "input.sensitivity": state.sensitivity.value,
        "output.voltage": round(output_v, 1),
        "output.voltage.nominal": nominal_v,
        "output.frequency": round(output_hz, 2),
        "output.current": round(state.load_w / nominal_v / 0.95, 2) if state.output_on else 0.0,
        "battery.charge": round(100.0 * state.charge_fraction, 1),
        "battery.charge.low": CHARGE_LOW_PERCENT,
        "battery.charge.warning": CHARGE_WARNING_PERCENT,
        "battery.runtime": int(left_s),
        "battery.runtime.low": RUNTIME_LOW_S,
        "battery.voltage": round(battery_voltage_v(state, spec), 2),
        "battery.voltage.nominal": spec.pack_nominal_v,
        "battery.temperature": round(state.battery_temp_c, 1),
        "battery.type": "LiIon" if spec.battery_chemistry == LI_ION else "PbAc",
        "battery.date": _iso_date(state.battery_installed_s),
        "battery.date.maintenance": _iso_date(replace_by_s),
        "outlet.group.count": len(spec.outlet_groups) - 1,  # [dump] counts the switched groups
    }
    for index, group in enumerate(state.outlet_groups):
        prefix = f"outlet.group.{index}."
        values[prefix + "name"] = group.name
        values[prefix + "status"] = (
            "on" if group.on and state.output_on and state.outlet_groups[0].on else "off"
        )
        values[prefix + "realpower"] = round(state.group_loads_w[index], 1)
        values[prefix + "delay.reboot"] = int(spec.outlet_reboot_delay_s)
    return values
