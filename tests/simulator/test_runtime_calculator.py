"""Runtime predictions against published figures, and the `runtime` command line."""

import argparse
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.ups_models import CATALOG, model_spec
from simulator.runtime_calculator import format_duration, main, register
from simulator.ups_model import predict_runtime_s


@pytest.mark.parametrize(
    ("model", "load_percent", "reference_min"),
    [("SMT1500C", 50, 17.0), ("SMT1500C", 100, 6.0), ("SMC1500C", 50, 15.0), ("SMC1500C", 100, 5.0)],
)
def test_runtime_within_15_percent_of_published_figure(model, load_percent, reference_min):
    runtime_min = predict_runtime_s(model_spec(model), load_percent=load_percent) / 60.0
    assert runtime_min == pytest.approx(reference_min, rel=0.15)


@pytest.mark.parametrize("model", sorted(CATALOG))
def test_half_to_full_load_runtime_ratio_is_like_real_units(model):
    spec = model_spec(model)
    ratio = predict_runtime_s(spec, load_percent=50) / predict_runtime_s(spec, load_percent=100)
    assert 2.4 <= ratio <= 3.2


@pytest.mark.parametrize("model", ["SMT1500C", "SMC1500C"])
def test_reference_models_ratio_is_between_2_6_and_3_2(model):
    spec = model_spec(model)
    ratio = predict_runtime_s(spec, load_percent=50) / predict_runtime_s(spec, load_percent=100)
    assert 2.6 <= ratio <= 3.2


@pytest.mark.parametrize("model", sorted(CATALOG))
def test_low_load_runtime_flattens_within_pack_energy(model):
    """At 0-10% load the overhead dominates: runtime stays below what the pack's energy allows."""
    spec = model_spec(model)
    for load_percent in (0, 2, 5, 10):
        seconds = predict_runtime_s(spec, load_percent=load_percent)
        battery_w = spec.battery_power_w(spec.w_rating * load_percent / 100)
        assert seconds * battery_w / 3600 <= spec.pack_nominal_v * spec.pack_capacity_ah
    # A pure power law in load (k ~1.5) would give ~30x for 10x less load; the overhead keeps it under 10x
    assert predict_runtime_s(spec, load_percent=1) < 10 * predict_runtime_s(spec, load_percent=10)


@given(
    model=st.sampled_from(sorted(CATALOG)),
    low=st.floats(0, 100),
    high=st.floats(0, 100),
    age_years=st.floats(0, 6),
    temp_c=st.floats(0, 40),
)
def test_runtime_never_rises_with_load(model, low, high, age_years, temp_c):
    low, high = sorted((low, high))
    spec = model_spec(model)
    kwargs = {"battery_age_years": age_years, "temperature_c": temp_c}
    assert predict_runtime_s(spec, load_percent=high, **kwargs) <= predict_runtime_s(
        spec, load_percent=low, **kwargs
    )


@pytest.mark.parametrize(
    ("kwargs", "shorter_than_new"),
    [({"charge_percent": 50}, True), ({"battery_age_years": 3}, True), ({"temperature_c": 5}, True)],
)
def test_half_charge_age_and_cold_shorten_runtime(kwargs, shorter_than_new):
    spec = model_spec("SMT1500C")
    new_s = predict_runtime_s(spec, load_percent=50)
    assert (predict_runtime_s(spec, load_percent=50, **kwargs) < new_s) is shorter_than_new


def test_half_charge_gives_half_runtime():
    spec = model_spec("SMT1500C")
    half = predict_runtime_s(spec, load_percent=40, charge_percent=50)
    assert half == pytest.approx(predict_runtime_s(spec, load_percent=40) / 2)


@pytest.mark.parametrize(
    ("seconds", "text"), [(1023, "17 min 03 s"), (360, "6 min 00 s"), (7500, "2 h 05 min")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_command_prints_model_load_and_runtime(capsys):
    assert main(["--model", "SMT1500C", "--load-percent", "50"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("SMT1500C at 50% load (500 W), 100% charge: ")
    assert out.endswith(format_duration(predict_runtime_s(model_spec("SMT1500C"), load_percent=50)))


def test_json_output_has_units_in_key_names(capsys):
    argv = ["--model", "SMC1500C", "--load-percent", "100", "--battery-age-years", "1", "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["model"] == "SMC1500C"
    assert payload["load_w"] == 900
    expected_s = predict_runtime_s(model_spec("SMC1500C"), load_percent=100, battery_age_years=1)
    assert payload["runtime_s"] == round(expected_s)
    assert {"load_percent", "charge_percent", "battery_age_years", "temperature_c", "runtime_min"} <= set(
        payload
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "SMX1", "--load-percent", "50"], "Unknown model 'SMX1'"),
        (["--model", "SMT1500C", "--load-percent", "120"], "--load-percent must be between 0 and 100"),
        (["--model", "SMT1500C", "--load-percent", "-1"], "--load-percent must be between 0 and 100"),
        (["--model", "SMT1500C", "--load-percent", "50", "--battery-age-years", "-2"], "--battery-age-years"),
        (["--model", "SMT1500C", "--load-percent", "half"], "invalid float value"),
        (["--load-percent", "50"], "required"),
    ],
)
def test_bad_flags_give_one_line_and_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_register_adds_runtime_subcommand(capsys):
    parser = argparse.ArgumentParser(prog="simulator")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["runtime", "--model", "SMT750IC", "--load-percent", "25", "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "SMT750IC"


def test_registered_subcommand_rejects_bad_values_with_exit_code_2(capsys):
    parser = argparse.ArgumentParser(prog="simulator")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["runtime", "--model", "SMT750IC", "--load-percent", "250"])
    assert args.func(args) == 2
    assert "--load-percent must be between 0 and 100" in capsys.readouterr().err
