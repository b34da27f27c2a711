"""Battery physics of the UPS model: blackouts, recharge, voltages, determinism and step size."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.ups_models import model_spec
from simulator.ups_model import (
    InputPower,
    initial_state,
    step,
    telemetry,
)

T0_S = 1_700_000_000.0
SPEC = model_spec("SMT1500C")
NOMINAL = InputPower.nominal(SPEC)
BLACKOUT = InputPower.blackout()


def fresh(spec=SPEC, seed=1, **kwargs):
    return initial_state(spec, sim_time_s=T0_S, rng=random.Random(seed), **kwargs)


def run(state, power, loads_w, seconds, dt_s, spec=SPEC, rng=None, ambient_temp_c=25.0):
    """Step for `seconds`, returning the final state and every (time, event) raised."""
    rng = rng or random.Random(7)
    events = []
    elapsed = 0.0
    while elapsed < seconds - 1e-9:
        h = min(dt_s, seconds - elapsed)
        state, raised = step(state, spec, power, loads_w, h, rng, ambient_temp_c)
        events += [(state.sim_time_s, e) for e in raised]
        elapsed += h
    return state, events


def codes(events):
    return [e.code for _, e in events if e.code]


def test_new_unit_is_on_line_and_full():
    values = telemetry(fresh(), SPEC)
    assert values["ups.status"] == "OL"
    assert values["battery.charge"] == 100.0
    assert values["input.voltage"] == 120.0
    assert values["battery.runtime"] > 0


def test_blackout_runs_ob_then_lb_then_off_and_returns_on_line_charging():
    state, rng = fresh(), random.Random(1)
    statuses, events = ["OL"], []
    while state.output_on:
        state, raised = step(state, SPEC, BLACKOUT, (400.0, 100.0), 5.0, rng)
        events += [(state.sim_time_s, e) for e in raised]
        status = telemetry(state, SPEC)["ups.status"]
        if status != statuses[-1]:
            statuses.append(status)
    assert statuses == ["OL", "OB DISCHRG", "OB DISCHRG LB", "OFF"]
    assert codes(events) == ["0x0109", "0x010F", "0x0114"]
    state, back = run(state, NOMINAL, (400.0, 100.0), 10, 5.0)
    assert telemetry(state, SPEC)["ups.status"] == "OL CHRG"
    assert codes(back)[:3] == ["0x010A", "0x0110", "0x0113"]
    assert telemetry(state, SPEC)["input.transfer.reason"] == "AcceptableInput"


def test_blackout_at_half_load_lasts_the_published_runtime():
    state, events = run(fresh(), BLACKOUT, (500.0, 0.0), 3600, 2.0)
    off_at_s = next(t for t, e in events if e.code == "0x0114") - T0_S
    assert off_at_s == pytest.approx(17 * 60, rel=0.05)
    assert state.charge_fraction == 0.0


@pytest.mark.parametrize("dt_s", [0.1, 1.0, 30.0, 600.0])
def test_charge_never_rises_on_battery_and_never_goes_negative(dt_s):
    state = fresh()
    rng = random.Random(3)
    previous = state.charge_fraction
    for _ in range(40 if dt_s < 1 else 200):
        state, _ = step(state, SPEC, BLACKOUT, (900.0, 0.0), dt_s, rng)
        assert 0.0 <= state.charge_fraction <= previous
        previous = state.charge_fraction


def test_charge_never_falls_on_line_while_charging():
    state, _ = run(fresh(), BLACKOUT, (600.0, 0.0), 400, 10.0)
    rng = random.Random(3)
    previous = state.charge_fraction
    for _ in range(100):
        state, _ = step(state, SPEC, NOMINAL, (600.0, 0.0), 300.0, rng)
        assert state.charge_fraction >= previous
        previous = state.charge_fraction
    assert state.charge_fraction == 1.0


def test_recharge_from_empty_reaches_about_90_percent_in_3_hours():
    state, _ = run(fresh(), BLACKOUT, (500.0, 0.0), 3600, 10.0)
    assert state.charge_fraction == 0.0
    state, _ = run(state, NOMINAL, (500.0, 0.0), 3 * 3600, 60.0)
    assert telemetry(state, SPEC)["battery.charge"] == pytest.approx(90, abs=1)
    state, _ = run(state, NOMINAL, (500.0, 0.0), 3 * 3600, 600.0)
    assert telemetry(state, SPEC)["ups.status"] == "OL"


@pytest.mark.parametrize(
    ("model", "low_v", "high_v"),
    [("SMT750C", 26.5, 27.5), ("SMT1500C", 26.3, 27.5), ("SMT3000IC", 53.0, 55.0), ("SMC1500C", 26.5, 27.5)],
)
def test_pack_floats_on_line_like_the_real_dumps(model, low_v, high_v):
    spec = model_spec(model)
    assert low_v <= telemetry(fresh(spec), spec)["battery.voltage"] <= high_v


def test_pack_voltage_sags_with_load_and_with_lower_charge_on_battery():
    light, _ = run(fresh(), BLACKOUT, (100.0, 0.0), 5, 5.0)
    heavy, _ = run(fresh(), BLACKOUT, (1000.0, 0.0), 5, 5.0)
    light_later, _ = run(light, BLACKOUT, (100.0, 0.0), 1800, 10.0)
    on_line_v = telemetry(fresh(), SPEC)["battery.voltage"]
    light_v = telemetry(light, SPEC)["battery.voltage"]
    assert telemetry(heavy, SPEC)["battery.voltage"] < light_v < on_line_v
    assert telemetry(light_later, SPEC)["battery.voltage"] < light_v
    assert telemetry(light_later, SPEC)["battery.voltage"] > 24 * 1.7 / 2  # above 1.7 V/cell cut-off


def test_on_battery_at_93_percent_reads_like_the_dump():
    """[dump] 25.6 V on a 24 V pack at 93% charge and light load."""
    state, _ = run(fresh(), BLACKOUT, (50.0, 0.0), 5, 5.0)
    while state.charge_fraction > 0.93:
        state, _ = step(state, SPEC, BLACKOUT, (50.0, 0.0), 10.0, random.Random(1))
    assert telemetry(state, SPEC)["battery.voltage"] == pytest.approx(25.6, abs=0.5)


@pytest.mark.parametrize("seed", [1, 42])
def test_same_seed_gives_the_same_telemetry_sequence(seed):
    def sequence():
        state = fresh(seed=seed)
        rng = random.Random(seed)
        out = []
        for power in [NOMINAL] * 3 + [BLACKOUT] * 5 + [InputPower(103.0, 60.0)] * 3 + [NOMINAL] * 3:
            state, events = step(state, SPEC, power, (350.0, 120.0), 30.0, rng)
            out.append((telemetry(state, SPEC), events))
        return out

    assert sequence() == sequence()


def test_different_seeds_differ_only_in_measurement_noise():
    a = telemetry(fresh(seed=1), SPEC)
    b = telemetry(fresh(seed=2), SPEC)
    assert a["battery.voltage"] != b["battery.voltage"]
    assert {k: v for k, v in a.items() if k != "battery.voltage"} == {
        k: v for k, v in b.items() if k != "battery.voltage"
    }


@pytest.mark.parametrize(
    ("power", "loads_w", "seconds"),
    [
        (BLACKOUT, (700.0, 0.0), 900.0),  # ends before exhaustion
        (BLACKOUT, (700.0, 100.0), 1800.0),  # runs flat mid-step
        (NOMINAL, (300.0, 0.0), 6 * 3600.0),  # charging and ageing
    ],
)
def test_one_large_step_equals_many_small_steps(power, loads_w, seconds):
    start, _ = run(fresh(), BLACKOUT, (500.0, 0.0), 600, 10.0) if power is NOMINAL else (fresh(), [])
    big, big_events = step(start, SPEC, power, loads_w, seconds, random.Random(1))
    small, small_events = run(start, power, loads_w, seconds, 1.0)
    assert big.sim_time_s == pytest.approx(small.sim_time_s)
    assert big.charge_fraction == pytest.approx(small.charge_fraction, abs=0.01)
    assert big.capacity_fraction == pytest.approx(small.capacity_fraction, rel=1e-4)
    assert big.ups_temp_c == pytest.approx(small.ups_temp_c, abs=0.5)
    assert ups_codes(big_events) == codes(small_events)
    assert telemetry(big, SPEC)["ups.status"] == telemetry(small, SPEC)["ups.status"]


def ups_codes(events):
    return [e.code for e in events if e.code]


@settings(max_examples=40, deadline=None)
@given(
    load_w=st.floats(0, 1200),
    dts=st.lists(st.floats(0.1, 600), min_size=1, max_size=12),
    blackout=st.booleans(),
)
def test_charge_stays_between_0_and_1_for_any_steps(load_w, dts, blackout):
    state = fresh()
    rng = random.Random(0)
    for dt_s in dts:
        state, _ = step(state, SPEC, BLACKOUT if blackout else NOMINAL, (load_w, 0.0), dt_s, rng)
        assert 0.0 <= state.charge_fraction <= 1.0
        assert telemetry(state, SPEC)["battery.runtime"] >= 0


def test_each_event_is_raised_once_per_transition():
    state, events = run(fresh(), BLACKOUT, (600.0, 0.0), 600, 0.5)
    assert codes(events).count("0x0109") == 1
    state, events = run(state, NOMINAL, (600.0, 0.0), 600, 0.5)
    assert codes(events).count("0x010A") == 1
    state, events = run(state, NOMINAL, (1200.0, 0.0), 60, 0.5)
    assert codes(events) == ["0x0103"]


def test_lb_comes_from_runtime_low_before_charge_low_at_heavy_load():
    state, events = run(fresh(), BLACKOUT, (1000.0, 0.0), 400, 1.0)
    lb_at = next(t for t, e in events if e.code == "0x010F")
    off_at = next(t for t, e in events if e.code == "0x0114")
    assert off_at - lb_at == pytest.approx(120, abs=5)  # battery.runtime.low
    assert telemetry(state, SPEC)["battery.runtime"] == 0


def test_internal_temperature_rises_with_load_and_lags():
    idle, _ = run(fresh(), NOMINAL, (50.0, 0.0), 4 * 3600, 60.0)
    loaded_soon, _ = run(idle, NOMINAL, (950.0, 0.0), 120, 10.0)
    loaded, _ = run(idle, NOMINAL, (950.0, 0.0), 4 * 3600, 60.0)
    idle_c = telemetry(idle, SPEC)["ups.temperature"]
    soon_c = telemetry(loaded_soon, SPEC)["ups.temperature"]
    loaded_c = telemetry(loaded, SPEC)["ups.temperature"]
    assert idle_c < soon_c < loaded_c
    assert soon_c - idle_c < 0.3 * (loaded_c - idle_c)  # thermal lag: two minutes is not enough
    assert telemetry(loaded, SPEC)["battery.temperature"] > telemetry(idle, SPEC)["battery.temperature"]


def test_cold_room_shortens_runtime():
    warm, _ = run(fresh(), NOMINAL, (500.0, 0.0), 6 * 3600, 600.0, ambient_temp_c=25.0)
    cold, _ = run(fresh(), NOMINAL, (500.0, 0.0), 6 * 3600, 600.0, ambient_temp_c=5.0)
    assert telemetry(cold, SPEC)["battery.runtime"] < telemetry(warm, SPEC)["battery.runtime"]


def test_more_loads_than_outlet_groups_is_rejected():
    with pytest.raises(ValueError, match="outlet groups"):
        step(fresh(), SPEC, NOMINAL, (1.0, 2.0, 3.0), 1.0, random.Random(1))
