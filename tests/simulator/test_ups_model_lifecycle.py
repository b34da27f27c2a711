"""Battery ageing and replacement, self-test, runtime calibration, outlet groups and overload."""

import random

import pytest

from catalog.ups_models import model_spec
from simulator.ups_model import (
    SECONDS_PER_DAY,
    InputPower,
    initial_state,
    outlet_group_command,
    replace_battery,
    start_calibration,
    start_self_test,
    step,
    telemetry,
)

T0_S = 1_700_000_000.0
SPEC = model_spec("SMT1500C")
NOMINAL = InputPower.nominal(SPEC)


def fresh(spec=SPEC, **kwargs):
    return initial_state(spec, sim_time_s=T0_S, rng=random.Random(1), **kwargs)


def run(state, seconds, dt_s, loads_w=(300.0, 0.0), spec=SPEC, power=None, ambient_temp_c=25.0):
    rng = random.Random(5)
    power = power or InputPower.nominal(spec)
    events = []
    elapsed = 0.0
    while elapsed < seconds - 1e-9:
        h = min(dt_s, seconds - elapsed)
        state, raised = step(state, spec, power, loads_w, h, rng, ambient_temp_c)
        events += [(state.sim_time_s, e) for e in raised]
        elapsed += h
    return state, events


def capacity_lost_in_a_year(spec, ambient_temp_c):
    state, _ = run(
        fresh(spec), 365 * SECONDS_PER_DAY, SECONDS_PER_DAY, (100.0,), spec, ambient_temp_c=ambient_temp_c
    )
    return 1.0 - state.capacity_fraction


@pytest.mark.parametrize(
    ("model", "halving_c"), [("SMT1500C", 8.0), ("SMC1000IC", 8.0), ("SMTL1500RM2UC", 15.0)]
)
def test_battery_wears_twice_as_fast_per_halving_temperature(model, halving_c):
    spec = model_spec(model)
    ratio = capacity_lost_in_a_year(spec, 25.0 + halving_c) / capacity_lost_in_a_year(spec, 25.0)
    assert ratio == pytest.approx(2.0, rel=0.02)


def test_li_ion_wears_far_less_per_cycle_than_lead_acid():
    def loss_after_cycles(spec):
        state = fresh(spec)
        for _ in range(5):  # five deep discharges and recharges
            state, _ = run(state, 3600, 10.0, (spec.w_rating * 0.5, 0.0), spec, InputPower.blackout())
            state, _ = run(state, 8 * 3600, 600.0, (0.0, 0.0), spec)
        calendar_only, _ = run(fresh(spec), state.sim_time_s - T0_S, 600.0, (0.0, 0.0), spec)
        return calendar_only.capacity_fraction - state.capacity_fraction

    lead_acid = loss_after_cycles(model_spec("SMT1500C"))
    li_ion = loss_after_cycles(model_spec("SMTL1500RM2UC"))
    assert lead_acid == pytest.approx(5 * 0.4 / 500, rel=0.1)
    assert li_ion < lead_acid / 5


def test_worn_battery_raises_rb_and_0x0119_once_and_replacement_clears_it():
    worn_soon = fresh(battery_age_days=4 * 365)
    assert "RB" not in telemetry(worn_soon, SPEC)["ups.status"]
    state, events = run(worn_soon, 365 * SECONDS_PER_DAY, 3600.0, ambient_temp_c=30.0)
    assert telemetry(state, SPEC)["ups.status"] == "OL RB"
    assert [e.code for _, e in events] == ["0x0119"]
    new = replace_battery(state, SPEC, sim_time_s=state.sim_time_s)
    values = telemetry(new, SPEC)
    assert values["ups.status"] == "OL"
    assert values["battery.date"] == "2024-11-13"
    assert values["battery.date.maintenance"] > values["battery.date"]


def test_install_and_replace_by_dates_follow_battery_age():
    values = telemetry(fresh(battery_age_days=365), SPEC)
    assert values["battery.date"] == "2022-11-14"
    assert "2026-01-01" < values["battery.date.maintenance"] < "2027-12-31"  # lead-acid: 2-5 years


def test_aged_battery_gives_less_runtime():
    new_s = telemetry(fresh(), SPEC)["battery.runtime"]
    old_s = telemetry(fresh(battery_age_days=3 * 365), SPEC)["battery.runtime"]
    assert old_s < 0.85 * new_s


@pytest.mark.parametrize(
    ("battery_age_days", "result"), [(0, "Passed"), (2 * 365, "Passed"), (5 * 365, "Failed")]
)
def test_self_test_passes_or_fails_by_battery_health(battery_age_days, result):
    state, events = start_self_test(fresh(battery_age_days=battery_age_days), SPEC)
    assert [e.code for e in events] == ["0x0137"]
    assert telemetry(state, SPEC)["ups.test.result"] == "InProgress, Source: Protocol"
    state, _ = run(state, 2, 1.0)
    assert telemetry(state, SPEC)["ups.status"].startswith("OB DISCHRG TEST")
    state, events = run(state, 20, 1.0)
    assert telemetry(state, SPEC)["ups.test.result"] == f"{result}, Source: Protocol"
    texts = [e.text for _, e in events]
    assert f"UPS: Self-Test {result.lower()}." in texts
    assert "UPS: On battery power in response to an input power problem." not in texts
    assert telemetry(state, SPEC)["ups.status"].startswith("OL")


def test_self_test_is_refused_on_battery():
    state, _ = run(fresh(), 5, 5.0, power=InputPower.blackout())
    state, events = start_self_test(state, SPEC)
    assert telemetry(state, SPEC)["ups.test.result"] == "Refused, Source: Protocol"
    assert state.self_test_remaining_s == 0


@pytest.mark.parametrize(
    ("charge_first", "load_w", "accepted"),
    [(False, 300.0, True), (False, 50.0, False), (True, 300.0, False)],
)
def test_calibration_needs_full_charge_and_ten_percent_load(charge_first, load_w, accepted):
    state, _ = run(fresh(), 2, 1.0, (load_w, 0.0))
    if charge_first:  # a short outage leaves the battery below 100%
        state, _ = run(state, 60, 1.0, (load_w, 0.0), power=InputPower.blackout())
        state, _ = run(state, 2, 1.0, (load_w, 0.0))
    state, events = start_calibration(state, SPEC)
    assert state.calibrating is accepted
    assert telemetry(state, SPEC)["experimental.calibration.result"] == (
        "InProgress" if accepted else "Refused"
    )
    assert len(events) == 1


def test_calibration_teaches_the_firmware_the_worn_capacity():
    aged = fresh(battery_age_days=365)
    state, _ = run(
        aged, 365 * SECONDS_PER_DAY, 3600.0, (300.0, 0.0)
    )  # ages; firmware still believes last year
    believed_s = telemetry(state, SPEC)["battery.runtime"]
    state, _ = start_calibration(state, SPEC)
    state, events = run(state, 3600, 5.0, (300.0, 0.0))
    assert "UPS: Runtime calibration completed." in [e.text for _, e in events]
    assert telemetry(state, SPEC)["experimental.calibration.result"] == "Passed"
    state, _ = run(state, 8 * 3600, 600.0, (300.0, 0.0))
    assert telemetry(state, SPEC)["battery.runtime"] < believed_s


def test_outlet_cycle_turns_off_then_on_after_the_reboot_delay():
    state, _ = run(fresh(), 1, 1.0, (200.0, 150.0))
    state, events = outlet_group_command(state, SPEC, 1, "cycle", delay_s=5.0)
    assert events == ()
    timeline = []
    for _ in range(20):
        state, raised = step(state, SPEC, NOMINAL, (200.0, 150.0), 1.0, random.Random(1))
        timeline.append((telemetry(state, SPEC)["outlet.group.1.status"], state.load_w))
        assert not [e for e in raised if e.code]
    statuses = [status for status, _ in timeline]
    assert statuses[:4] == ["on"] * 4
    assert statuses[4:12] == ["off"] * 8  # off at 5 s, back on 8 s later [dump delay.reboot]
    assert statuses[12:] == ["on"] * 8
    assert timeline[5][1] == 200.0 and timeline[15][1] == 350.0


def test_outlet_off_and_on_raise_user_control_events():
    state, events = outlet_group_command(fresh(), SPEC, 1, "off")
    assert [e.text for e in events] == [
        "UPS: Outlet Group 1, Outlet Group 1, turned off due to user control."
    ]
    state, events = outlet_group_command(state, SPEC, 1, "on")
    assert [e.text for e in events] == ["UPS: Outlet Group 1, Outlet Group 1, turned on due to user control."]


def test_main_group_off_turns_the_whole_output_off():
    state, events = outlet_group_command(fresh(), SPEC, 0, "off")
    assert [e.code for e in events] == ["0x0114"]
    state, _ = run(state, 2, 1.0, (200.0, 150.0))
    values = telemetry(state, SPEC)
    assert (values["ups.status"], values["ups.load"], values["outlet.group.1.status"]) == ("OFF", 0.0, "off")
    state, events = outlet_group_command(state, SPEC, 0, "on")
    assert [e.code for e in events] == ["0x0113"]


@pytest.mark.parametrize(("group", "action"), [(2, "off"), (-1, "on"), (1, "reboot")])
def test_bad_outlet_commands_are_rejected(group, action):
    with pytest.raises(ValueError):
        outlet_group_command(fresh(), SPEC, group, action)


@pytest.mark.parametrize(("loads_w", "over"), [((600.0, 399.0), False), ((600.0, 401.0), True)])
def test_overload_above_100_percent(loads_w, over):
    state, events = run(fresh(), 3, 1.0, loads_w)
    assert ("OVER" in telemetry(state, SPEC)["ups.status"]) is over
    assert [e.code for _, e in events] == (["0x0103"] if over else [])


def test_switching_a_group_off_clears_an_overload():
    state, _ = run(fresh(), 1, 1.0, (600.0, 500.0))
    state, _ = outlet_group_command(state, SPEC, 1, "off")
    state, events = run(state, 1, 1.0, (600.0, 500.0))
    assert "OVER" not in telemetry(state, SPEC)["ups.status"]
    assert [e.text for _, e in events][-1] == "UPS: The load no longer exceeds 100% of rated capacity."
