"""Input side of the UPS model: AVR trim and boost, transfer points, sensitivity."""

import random

import pytest

from catalog.ups_models import model_spec
from simulator.ups_model import InputPower, Sensitivity, initial_state, set_sensitivity, step, telemetry

T0_S = 1_700_000_000.0


def settle(model, power, sensitivity=Sensitivity.NORMAL, seconds=4.0):
    spec = model_spec(model)
    state = initial_state(spec, sim_time_s=T0_S, rng=random.Random(1), sensitivity=sensitivity)
    all_events = []
    for _ in range(int(seconds)):
        state, events = step(state, spec, power, (200.0,), 1.0, random.Random(2))
        all_events += events
    return state, telemetry(state, spec), all_events


@pytest.mark.parametrize(
    ("model", "voltage_v", "status", "reason"),
    [
        ("SMT1500C", 120.0, "OL", "SystemInitialization"),
        ("SMT1500C", 110.0, "OL BOOST", "SystemInitialization"),
        ("SMT1500C", 125.0, "OL TRIM", "SystemInitialization"),
        ("SMT1500C", 105.0, "OB DISCHRG", "LowInputVoltage"),
        ("SMT1500C", 128.0, "OB DISCHRG", "HighInputVoltage"),
        ("SMT1500IC", 230.0, "OL", "SystemInitialization"),
        ("SMT1500IC", 215.0, "OL BOOST", "SystemInitialization"),
        ("SMT1500IC", 245.0, "OL TRIM", "SystemInitialization"),
        ("SMT1500IC", 207.0, "OB DISCHRG", "LowInputVoltage"),
        ("SMT1500IC", 254.0, "OB DISCHRG", "HighInputVoltage"),
    ],
)
def test_avr_between_transfer_points_and_battery_outside_them(model, voltage_v, status, reason):
    spec = model_spec(model)
    _, values, _ = settle(model, InputPower(voltage_v, spec.nominal_frequency_hz))
    assert values["ups.status"] == status
    assert values["input.transfer.reason"] == reason


@pytest.mark.parametrize(("voltage_v", "closer_to_nominal"), [(109.0, True), (125.5, True), (120.0, False)])
def test_avr_brings_the_output_closer_to_nominal(voltage_v, closer_to_nominal):
    _, values, _ = settle("SMT1500C", InputPower(voltage_v, 60.0))
    assert (abs(values["output.voltage"] - 120) < abs(voltage_v - 120)) is closer_to_nominal


def test_boost_raises_apc_compensation_events_once():
    _, _, events = settle("SMT1500C", InputPower(110.0, 60.0), seconds=10)
    assert [e.text for e in events] == ["UPS: Compensating for a low input voltage."]


def test_on_battery_output_is_nominal_sine_wave():
    _, values, _ = settle("SMT1500IC", InputPower.blackout())
    assert values["output.voltage"] == pytest.approx(230, abs=1)
    assert values["output.frequency"] == 50.0
    assert values["input.voltage"] == 0.0


DISTURBANCES = {
    "thd 12%": (InputPower(120.0, 60.0, thd_percent=12.0), "DistortedInput"),
    "thd 20%": (InputPower(120.0, 60.0, thd_percent=20.0), "DistortedInput"),
    "thd 30%": (InputPower(120.0, 60.0, thd_percent=30.0), "DistortedInput"),
    "dv/dt 2 V/ms": (InputPower(120.0, 60.0, dv_dt_v_per_ms=2.0), "RapidChangeOfInputVoltage"),
    "dv/dt 10 V/ms": (InputPower(120.0, 60.0, dv_dt_v_per_ms=10.0), "RapidChangeOfInputVoltage"),
    "63.5 Hz": (InputPower(120.0, 63.5), "HighInputFrequency"),
    "54.5 Hz": (InputPower(120.0, 54.5), "LowInputFrequency"),
    "70 Hz": (InputPower(120.0, 70.0), "HighInputFrequency"),
}


@pytest.mark.parametrize(
    ("disturbance", "normal", "reduced", "low"),
    [
        # does the unit go to battery?  Normal / Reduced / Low
        ("thd 12%", True, False, False),
        ("thd 20%", True, True, False),
        ("thd 30%", True, True, True),
        ("dv/dt 2 V/ms", True, False, False),
        ("dv/dt 10 V/ms", True, True, True),
        ("63.5 Hz", True, False, False),
        ("54.5 Hz", True, True, False),
        ("70 Hz", True, True, True),
    ],
)
def test_sensitivity_decides_which_disturbances_transfer(disturbance, normal, reduced, low):
    power, reason = DISTURBANCES[disturbance]
    for sensitivity, expected in [
        (Sensitivity.NORMAL, normal),
        (Sensitivity.REDUCED, reduced),
        (Sensitivity.LOW, low),
    ]:
        _, values, _ = settle("SMT1500C", power, sensitivity)
        assert values["ups.status"].startswith("OB") is expected, (disturbance, sensitivity)
        if expected:
            assert values["input.transfer.reason"] == reason


@pytest.mark.parametrize(
    ("disturbance", "text"),
    [
        ("thd 30%", "UPS: On battery power in response to distorted input."),
        ("dv/dt 10 V/ms", "UPS: On battery power in response to rapid change of input."),
        ("70 Hz", "UPS: On battery power in response to an input power problem."),
    ],
)
def test_transfer_event_names_the_disturbance(disturbance, text):
    _, _, events = settle("SMT1500C", DISTURBANCES[disturbance][0])
    assert [(e.code, e.text) for e in events] == [("0x0109", text)]


def test_voltage_transfer_points_ignore_sensitivity():
    for sensitivity in Sensitivity:
        _, values, _ = settle("SMT1500C", InputPower(104.0, 60.0), sensitivity)
        assert values["input.transfer.reason"] == "LowInputVoltage"


def test_lowering_sensitivity_keeps_a_distorted_feed_on_line():
    spec = model_spec("SMT1500C")
    state = initial_state(spec, sim_time_s=T0_S, rng=random.Random(1))
    state, events = set_sensitivity(state, spec, Sensitivity.LOW)
    assert [e.text for e in events] == ["UPS: Input sensitivity changed to Low."]
    assert set_sensitivity(state, spec, Sensitivity.LOW) == (state, ())
    state, events = step(state, spec, DISTURBANCES["thd 20%"][0], (200.0,), 1.0, random.Random(1))
    assert telemetry(state, spec)["ups.status"] == "OL"
    assert telemetry(state, spec)["input.sensitivity"] == "Low"


def test_return_to_line_needs_input_back_inside_the_hysteresis():
    spec = model_spec("SMT1500C")
    state, _, _ = settle("SMT1500C", InputPower(105.0, 60.0))
    state, events = step(state, spec, InputPower(107.0, 60.0), (200.0,), 1.0, random.Random(1))
    assert telemetry(state, spec)["ups.status"].startswith("OB")  # 107 V is inside 106 V + 2% of 120 V
    state, events = step(state, spec, InputPower(112.0, 60.0), (200.0,), 1.0, random.Random(1))
    assert telemetry(state, spec)["ups.status"] == "OL BOOST CHRG"
    assert [e.code for e in events if e.code] == ["0x010A"]
