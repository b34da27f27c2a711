"""The phases step() runs each sub-step, one at a time on a working copy of the state."""

import math
import random
from dataclasses import replace

import pytest

from catalog.ups_models import model_spec
from simulator.ups_model import (
    EV_BOOST,
    EV_BOOST_END,
    EV_CALIBRATION_ABORTED,
    EV_CALIBRATION_ENDED,
    EV_DISCHARGED,
    EV_DISCHARGED_CLEARED,
    EV_FAULTY_BATTERY,
    EV_LOW_BATTERY,
    EV_LOW_BATTERY_CLEARED,
    EV_OFF_BATTERY,
    EV_ON_BATTERY,
    EV_ON_BATTERY_DISTORTED,
    EV_ON_BATTERY_RAPID,
    EV_OUTPUT_OFF_EXHAUSTED,
    EV_OUTPUT_ON,
    EV_OVERLOAD,
    EV_OVERLOAD_CLEARED,
    EV_SELF_TEST_FAILED,
    EV_SELF_TEST_PASSED,
    EV_TRIM,
    SECONDS_PER_YEAR,
    InputPower,
    OutletGroupState,
    _advance_tests,
    _age_and_heat,
    _apply_due_outlet_actions,
    _charge_or_drain,
    _demand_per_group_w,
    _follow_avr,
    _raise_battery_alarms,
    _serve_load_w,
    _shut_down_exhausted,
    _substep_s,
    _transfer,
    _Work,
    initial_state,
    input_fault,
)

T0_S = 1_700_000_000.0
SPEC = model_spec("SMT1500C")  # 1000 W, 17 min at half load, 6 min at full load, 3 h to 90 %
NOMINAL = InputPower.nominal(SPEC)
BLACKOUT = InputPower.blackout()
ON_BATTERY = {"on_battery": True, "input_ok": False, "transfer_reason": "LowInputVoltage"}


def work(**changes):
    """A working copy of a new SMT1500C on line, full, with the given fields changed."""
    state = initial_state(SPEC, sim_time_s=T0_S, rng=random.Random(1))
    return _Work(replace(state, **changes))


def transfer(w, power):
    events = []
    _transfer(
        w,
        input_fault(SPEC, power, w.sensitivity, on_battery=False),
        input_fault(SPEC, power, w.sensitivity, on_battery=True),
        events,
    )
    return events


# ---------------------------------------------------------------- demand


@pytest.mark.parametrize(
    ("loads_w", "demand_w"),
    [((), (0.0, 0.0)), ((300.0,), (300.0, 0.0)), ((300.0, 100.0), (300.0, 100.0))],
)
def test_demand_is_padded_with_zeros_to_every_group(loads_w, demand_w):
    assert _demand_per_group_w(SPEC, loads_w) == demand_w


def test_more_loads_than_groups_is_an_error():
    with pytest.raises(ValueError, match="2 outlet groups, got 3 loads"):
        _demand_per_group_w(SPEC, (1.0, 2.0, 3.0))


# ---------------------------------------------------------------- due outlet actions


@pytest.mark.parametrize(("due_in_s", "applied"), [(-5.0, True), (0.0, True), (1.0, False)])
def test_delayed_outlet_action_runs_once_it_is_due(due_in_s, applied):
    groups = (
        OutletGroupState("Main Outlets"),
        OutletGroupState("Outlet Group 1", True, "off", T0_S + due_in_s),
    )
    w, events = work(outlet_groups=groups), []
    _apply_due_outlet_actions(w, SPEC, events)
    assert w.outlet_groups[1].on is not applied
    assert w.outlet_groups[1].pending_action == ("" if applied else "off")
    assert [e.text for e in events] == (
        ["UPS: Outlet Group 1, Outlet Group 1, turned off due to user control."] if applied else []
    )


# ---------------------------------------------------------------- transfer


@pytest.mark.parametrize(
    ("power", "reason", "event"),
    [
        (BLACKOUT, "LowInputVoltage", EV_ON_BATTERY),
        (InputPower(104.0, 60.0), "LowInputVoltage", EV_ON_BATTERY),
        (InputPower(130.0, 60.0), "HighInputVoltage", EV_ON_BATTERY),
        (InputPower(120.0, 64.0), "HighInputFrequency", EV_ON_BATTERY),
        (InputPower(120.0, 60.0, dv_dt_v_per_ms=2.0), "RapidChangeOfInputVoltage", EV_ON_BATTERY_RAPID),
        (InputPower(120.0, 60.0, thd_percent=12.0), "DistortedInput", EV_ON_BATTERY_DISTORTED),
    ],
)
def test_input_fault_on_line_transfers_to_battery_naming_the_reason(power, reason, event):
    w = work()
    events = transfer(w, power)
    assert (w.on_battery, w.input_ok, w.transfer_reason) == (True, False, reason)
    assert events == [event]


def test_acceptable_input_on_line_changes_nothing():
    w = work()
    assert transfer(w, NOMINAL) == []
    assert (w.on_battery, w.input_ok, w.transfer_reason) == (False, True, "SystemInitialization")


@pytest.mark.parametrize(
    ("voltage_v", "on_battery"),
    [
        (107.0, True),
        (108.5, False),
        (126.0, True),
        (124.5, False),
    ],  # return 2.4 V inside the 106/127 V points
)
def test_return_to_line_needs_the_input_back_inside_the_hysteresis(voltage_v, on_battery):
    w = work(**ON_BATTERY)
    transfer(w, InputPower(voltage_v, 60.0))
    assert w.on_battery is on_battery


def test_input_returning_clears_low_battery_and_goes_back_on_line():
    w = work(**ON_BATTERY, low_battery=True)
    events = transfer(w, NOMINAL)
    assert events == [EV_OFF_BATTERY, EV_LOW_BATTERY_CLEARED]
    assert (w.on_battery, w.low_battery, w.transfer_reason) == (False, False, "AcceptableInput")


def test_input_returning_restarts_an_output_the_flat_battery_turned_off():
    w = work(**ON_BATTERY, output_on=False, off_reason="exhausted", low_battery=True)
    events = transfer(w, NOMINAL)
    assert [e.code for e in events] == ["0x010A", "0x0110", "0x0113"]
    assert events[-1] == EV_OUTPUT_ON
    assert (w.output_on, w.off_reason, w.on_battery) == (True, "", False)


def test_output_switched_off_by_command_stays_off_when_input_is_good():
    w = work(output_on=False, off_reason="command")
    assert transfer(w, NOMINAL) == []
    assert w.output_on is False


def test_input_fault_aborts_a_self_test_and_a_calibration():
    w = work(self_test_remaining_s=6.0, test_result="InProgress, Source: Protocol", calibrating=True)
    events = transfer(w, BLACKOUT)
    assert events == [EV_CALIBRATION_ABORTED, EV_ON_BATTERY]
    assert (w.self_test_remaining_s, w.test_result) == (0.0, "Aborted, Source: Protocol")
    assert (w.calibrating, w.calibration_result) == (False, "Aborted")


# ---------------------------------------------------------------- AVR


@pytest.mark.parametrize(
    ("current", "voltage_v", "avr", "events"),
    [
        ("", 120.0, "", []),
        ("", 112.0, "BOOST", [EV_BOOST]),  # boost below 113 V
        ("", 124.0, "TRIM", [EV_TRIM]),  # trim above 123.5 V
        ("BOOST", 114.0, "BOOST", []),  # inside the 1.2 V band of hysteresis
        ("BOOST", 115.0, "", [EV_BOOST_END]),
        ("BOOST", 124.0, "TRIM", [EV_BOOST_END, EV_TRIM]),
    ],
)
def test_avr_boosts_low_and_trims_high_input_with_hysteresis(current, voltage_v, avr, events):
    w, raised = work(avr=current), []
    _follow_avr(w, SPEC, voltage_v, raised)
    assert (w.avr, raised) == (avr, events)


def test_avr_is_off_on_battery():
    w, raised = work(**ON_BATTERY, avr="BOOST"), []
    _follow_avr(w, SPEC, 100.0, raised)
    assert (w.avr, raised) == ("", [EV_BOOST_END])


# ---------------------------------------------------------------- serve load


@pytest.mark.parametrize(
    ("changes", "group_loads_w", "load_w"),
    [
        ({}, (300.0, 100.0), 400.0),
        (
            {"outlet_groups": (OutletGroupState("Main Outlets"), OutletGroupState("G1", on=False))},
            (300.0, 0.0),
            300.0,
        ),
        (
            {"outlet_groups": (OutletGroupState("Main Outlets", on=False), OutletGroupState("G1"))},
            (0.0, 0.0),
            0.0,
        ),
        ({"output_on": False, "off_reason": "command"}, (0.0, 0.0), 0.0),
        (ON_BATTERY, (300.0, 100.0), 400.0),
    ],
)
def test_only_powered_groups_draw_load(changes, group_loads_w, load_w):
    w, events = work(**changes), []
    _serve_load_w(w, SPEC, (300.0, 100.0), events)
    assert (w.group_loads_w, w.load_w, events) == (group_loads_w, load_w, [])


@pytest.mark.parametrize(
    ("was_overloaded", "demand_w", "overloaded", "events"),
    [
        (False, (900.0, 100.0), False, []),  # exactly the 1000 W rating is not an overload
        (False, (900.0, 150.0), True, [EV_OVERLOAD]),
        (True, (900.0, 150.0), True, []),
        (True, (500.0, 0.0), False, [EV_OVERLOAD_CLEARED]),
    ],
)
def test_overload_is_raised_and_cleared_on_the_transition(was_overloaded, demand_w, overloaded, events):
    w, raised = work(overloaded=was_overloaded), []
    _serve_load_w(w, SPEC, demand_w, raised)
    assert (w.overloaded, raised) == (overloaded, events)


# ---------------------------------------------------------------- sub-step length


@pytest.mark.parametrize(
    ("changes", "remaining_s", "from_battery", "h_s"),
    [
        ({}, 86400.0, False, 3600.0),
        ({}, 5.0, False, 5.0),
        (ON_BATTERY, 60.0, True, 10.0),
        (ON_BATTERY, 4.0, True, 4.0),
        ({"self_test_remaining_s": 3.5}, 60.0, True, 3.5),
        (
            {
                "outlet_groups": (
                    OutletGroupState("Main Outlets"),
                    OutletGroupState("G1", True, "on", T0_S + 2.0),
                )
            },
            60.0,
            False,
            2.0,
        ),
    ],
)
def test_substep_is_short_on_battery_and_cut_at_actions_and_test_end(changes, remaining_s, from_battery, h_s):
    assert _substep_s(work(**changes), remaining_s, from_battery) == h_s


# ---------------------------------------------------------------- charge or drain


def test_draining_a_new_full_pack_at_half_load_for_60_s_uses_1_17th():
    w = work(**ON_BATTERY, load_w=500.0, battery_temp_c=25.0)  # the catalogue's 17 min point
    h_s, exhausted = _charge_or_drain(w, SPEC, 60.0, from_battery=True)
    assert (h_s, exhausted) == (60.0, False)
    assert w.charge_fraction == pytest.approx(1.0 - 60.0 / (17 * 60))
    assert w.battery_cycles == pytest.approx(60.0 / (17 * 60))
    assert w.capacity_fraction == pytest.approx(1.0 - 60.0 / (17 * 60) * 0.4 / 500)  # cycle fade


def test_a_cold_or_aged_pack_drains_faster():
    new, cold, aged = (
        work(**ON_BATTERY, load_w=500.0, battery_temp_c=25.0),
        work(**ON_BATTERY, load_w=500.0, battery_temp_c=15.0),  # 8 % less capacity
        work(**ON_BATTERY, load_w=500.0, battery_temp_c=25.0, capacity_fraction=0.8),
    )
    for w in (new, cold, aged):
        _charge_or_drain(w, SPEC, 60.0, from_battery=True)
    used = 60.0 / (17 * 60)
    assert 1.0 - cold.charge_fraction == pytest.approx(used / 0.92)
    assert 1.0 - aged.charge_fraction == pytest.approx(used / 0.8)


def test_draining_stops_exactly_when_the_battery_is_empty():
    w = work(**ON_BATTERY, load_w=1000.0, battery_temp_c=25.0, charge_fraction=0.01)
    h_s, exhausted = _charge_or_drain(w, SPEC, 10.0, from_battery=True)
    assert exhausted is True
    assert h_s == pytest.approx(0.01 * 6 * 60)  # 1 % of the 6 min full-load runtime
    assert w.charge_fraction == 0.0


@pytest.mark.parametrize(
    ("charge", "h_s", "expected"),
    [
        (0.0, 3 * 3600.0, 0.9),  # bulk: 90 % in 3 h
        (0.5, 3600.0, 0.8),  # 30 % an hour
        (0.9, 600.0, 1.0 - 0.1 * math.exp(-600.0 * (0.9 / 10800.0) / 0.1)),  # absorption tail
        (0.999, 36000.0, 1.0),  # never above 100 %
        (1.0, 3600.0, 1.0),
    ],
)
def test_recharging_on_line_follows_bulk_then_absorption_and_stops_at_100(charge, h_s, expected):
    w = work(charge_fraction=charge)
    assert _charge_or_drain(w, SPEC, h_s, from_battery=False) == (h_s, False)
    assert w.charge_fraction == pytest.approx(expected)
    assert w.charge_fraction <= 1.0


def test_no_recharge_without_acceptable_input():
    w = work(output_on=False, off_reason="exhausted", input_ok=False, charge_fraction=0.0)
    assert _charge_or_drain(w, SPEC, 600.0, from_battery=False) == (600.0, False)
    assert w.charge_fraction == 0.0


# ---------------------------------------------------------------- age and heat


@pytest.mark.parametrize(
    ("battery_temp_c", "lost_per_year"),
    [(25.0, 0.08), (33.0, 0.16), (41.0, 0.32)],  # 40 % in 5 y at 25 C, doubling every 8 C
)
def test_calendar_fade_doubles_every_8_c(battery_temp_c, lost_per_year):
    w = work(battery_temp_c=battery_temp_c)
    _age_and_heat(w, SPEC, SECONDS_PER_YEAR, from_battery=False, ambient_temp_c=25.0)
    assert 1.0 - w.capacity_fraction == pytest.approx(lost_per_year)


def test_capacity_never_fades_below_5_percent():
    w = work(capacity_fraction=0.06)
    _age_and_heat(w, SPEC, 10 * SECONDS_PER_YEAR, from_battery=False, ambient_temp_c=25.0)
    assert w.capacity_fraction == 0.05


@pytest.mark.parametrize(
    ("load_w", "from_battery", "ups_target_c", "battery_target_c"),
    [(0.0, False, 30.0, 27.0), (1000.0, False, 45.0, 33.0), (1000.0, True, 55.0, 33.0)],
)
def test_temperatures_cover_63_percent_of_the_way_in_one_time_constant(
    load_w, from_battery, ups_target_c, battery_target_c
):
    w = work(load_w=load_w, ups_temp_c=25.0, battery_temp_c=25.0)
    _age_and_heat(w, SPEC, 900.0, from_battery, ambient_temp_c=25.0)
    assert w.ups_temp_c == pytest.approx(25.0 + (ups_target_c - 25.0) * (1 - math.exp(-1)))
    w = work(load_w=load_w, ups_temp_c=25.0, battery_temp_c=25.0)
    _age_and_heat(w, SPEC, 3600.0, from_battery, ambient_temp_c=25.0)
    assert w.battery_temp_c == pytest.approx(25.0 + (battery_target_c - 25.0) * (1 - math.exp(-1)))


# ---------------------------------------------------------------- battery ran flat


def test_flat_battery_on_battery_turns_the_output_off_after_low_battery():
    w, events = work(**ON_BATTERY, charge_fraction=0.0), []
    _shut_down_exhausted(w, events)
    assert events == [EV_LOW_BATTERY, EV_OUTPUT_OFF_EXHAUSTED]
    assert (w.output_on, w.off_reason, w.transfer_reason) == (False, "exhausted", "LowBatteryVoltage")


def test_flat_battery_after_low_battery_only_turns_the_output_off():
    w, events = work(**ON_BATTERY, charge_fraction=0.0, low_battery=True), []
    _shut_down_exhausted(w, events)
    assert events == [EV_OUTPUT_OFF_EXHAUSTED]


def test_self_test_running_the_battery_flat_returns_to_line():
    w, events = work(charge_fraction=0.0, self_test_remaining_s=5.0, calibrating=True), []
    _shut_down_exhausted(w, events)
    assert events == []
    assert (w.output_on, w.self_test_remaining_s, w.calibrating) == (True, 0.0, False)


# ---------------------------------------------------------------- battery alarms


@pytest.mark.parametrize(
    ("changes", "low_battery", "events"),
    [
        ({**ON_BATTERY, "charge_fraction": 0.5, "load_w": 200.0}, False, []),
        ({**ON_BATTERY, "charge_fraction": 0.09, "load_w": 10.0}, True, [EV_LOW_BATTERY]),  # below 10 %
        ({**ON_BATTERY, "charge_fraction": 0.3, "load_w": 1000.0}, True, [EV_LOW_BATTERY]),  # < 120 s left
        ({**ON_BATTERY, "charge_fraction": 0.05, "low_battery": True}, True, []),  # raised once
        ({"charge_fraction": 0.05}, False, [EV_DISCHARGED]),  # on line: discharged, not LB
    ],
)
def test_low_battery_on_battery_by_charge_or_runtime(changes, low_battery, events):
    w, raised = work(**changes), []
    _raise_battery_alarms(w, SPEC, raised)
    assert (w.low_battery, raised) == (low_battery, events)


@pytest.mark.parametrize(
    ("changes", "discharged", "events"),
    [
        ({"charge_fraction": 0.09}, True, [EV_DISCHARGED]),
        ({"charge_fraction": 0.09, "discharged": True}, True, []),
        ({"charge_fraction": 0.11, "discharged": True}, False, [EV_DISCHARGED_CLEARED]),
        (
            {"charge_fraction": 0.05, "input_ok": False, "output_on": False},
            False,
            [],
        ),  # no input: not reported
    ],
)
def test_discharged_on_line_below_10_percent(changes, discharged, events):
    w, raised = work(**changes), []
    _raise_battery_alarms(w, SPEC, raised)
    assert (w.discharged, raised) == (discharged, events)


@pytest.mark.parametrize(
    ("capacity", "already", "events"),
    [(0.61, False, []), (0.59, False, [EV_FAULTY_BATTERY]), (0.59, True, [])],
)
def test_replace_battery_once_capacity_falls_below_60_percent(capacity, already, events):
    w, raised = work(capacity_fraction=capacity, replace_battery=already), []
    _raise_battery_alarms(w, SPEC, raised)
    assert (w.replace_battery, raised) == (capacity < 0.6, events)


# ---------------------------------------------------------------- tests and calibration


IN_TEST = {"self_test_remaining_s": 10.0, "test_result": "InProgress, Source: Protocol"}


@pytest.mark.parametrize(
    ("changes", "h_s", "remaining_s", "result", "events"),
    [
        (IN_TEST, 4.0, 6.0, "InProgress, Source: Protocol", []),
        (IN_TEST, 10.0, 0.0, "Passed, Source: Protocol", [EV_SELF_TEST_PASSED]),
        (
            {**IN_TEST, "capacity_fraction": 0.5, "replace_battery": True},
            10.0,
            0.0,
            "Failed, Source: Protocol",
            [EV_SELF_TEST_FAILED],
        ),
    ],
)
def test_self_test_counts_down_then_is_judged_by_battery_health(changes, h_s, remaining_s, result, events):
    w, raised = work(**changes), []
    _advance_tests(w, SPEC, h_s, raised)
    assert (w.self_test_remaining_s, w.test_result, raised) == (remaining_s, result, events)
    if events:
        assert w.transfer_reason == "TestEnded"


@pytest.mark.parametrize(("charge", "ended"), [(0.3, False), (0.25, True), (0.2, True)])
def test_calibration_ends_at_25_percent_and_learns_the_true_capacity(charge, ended):
    w, raised = work(calibrating=True, charge_fraction=charge, capacity_fraction=0.8), []
    _advance_tests(w, SPEC, 10.0, raised)
    assert w.calibrating is not ended
    assert raised == ([EV_CALIBRATION_ENDED] if ended else [])
    assert w.capacity_estimate_fraction == (0.8 if ended else 1.0)
    assert w.calibration_result == ("Passed" if ended else "No calibration initiated")


@pytest.mark.timeout(30)
def test_an_output_cycled_on_a_flat_battery_in_a_blackout_waits_for_power_instead_of_hanging():
    """The delayed "on" of a cycle cannot run with no input and an empty battery: time still moves on."""
    from simulator.ups_model import initial_state, outlet_group_command, step

    spec = model_spec("SMT1500C")
    rng = random.Random(7)
    state = initial_state(spec, sim_time_s=0.0, rng=rng)
    blackout = InputPower(0.0, 0.0)
    state, _ = step(state, spec, blackout, (spec.w_rating * 0.5,), 3 * 3600.0, rng)
    assert state.charge_fraction == 0.0 and not state.output_on
    state, _ = outlet_group_command(state, spec, 0, "cycle")
    state, _ = step(state, spec, blackout, (spec.w_rating * 0.5,), 60.0, rng)  # used to loop forever here
    assert not state.output_on and state.sim_time_s == pytest.approx(3 * 3600.0 + 60.0)
    state, events = step(state, spec, InputPower.nominal(spec), (spec.w_rating * 0.5,), 60.0, rng)
    assert state.output_on and EV_OUTPUT_ON in events  # the pending "on" runs once the mains is back
