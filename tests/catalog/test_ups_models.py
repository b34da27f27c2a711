"""The model catalogue: coverage, nameplate figures and lookups."""

import pytest

from catalog.ups_models import CATALOG, LEAD_ACID, LI_ION, model_spec

EXPECTED_MODELS = [
    f"{base}{suffix}"
    for base in ("SMT750", "SMT1000", "SMT1500", "SMT2200", "SMT3000", "SMC1000", "SMC1500")
    for suffix in ("C", "IC")
] + ["SMTL1500RM2UC"]


@pytest.mark.parametrize("model", EXPECTED_MODELS)
def test_catalogue_covers_model(model):
    assert model_spec(model).model == model


@pytest.mark.parametrize(
    ("model", "volts", "hertz"),
    [("SMT1500C", 120, 60), ("SMT1500IC", 230, 50), ("SMC1000IC", 230, 50), ("SMTL1500RM2UC", 120, 60)],
)
def test_c_models_are_120v_60hz_and_ic_models_230v_50hz(model, volts, hertz):
    spec = model_spec(model)
    assert (spec.nominal_input_v, spec.nominal_frequency_hz) == (volts, hertz)


@pytest.mark.parametrize(
    ("model", "va", "w", "pack_v", "groups"),
    [
        ("SMT750C", 750, 500, 24.0, 2),  # [dump]
        ("SMT1500C", 1500, 1000, 24.0, 2),
        ("SMT3000IC", 3000, 2700, 48.0, 3),
        ("SMC1500C", 1500, 900, 24.0, 1),
    ],
)
def test_nameplate_figures_match_the_reference_table(model, va, w, pack_v, groups):
    spec = model_spec(model)
    assert (spec.va_rating, spec.w_rating, spec.pack_nominal_v, len(spec.outlet_groups)) == (
        va,
        w,
        pack_v,
        groups,
    )
    assert spec.outlet_groups[0] == "Main Outlets"


@pytest.mark.parametrize(("model", "low_v", "high_v"), [("SMT1500C", 106, 127), ("SMT1500IC", 208, 253)])
def test_default_transfer_points(model, low_v, high_v):
    spec = model_spec(model)
    assert (spec.transfer_low_v, spec.transfer_high_v) == (low_v, high_v)


def test_only_the_smtl_is_li_ion_and_it_lasts_far_more_cycles():
    chemistries = {spec.model: spec.battery_chemistry for spec in CATALOG.values()}
    assert [m for m, c in chemistries.items() if c == LI_ION] == ["SMTL1500RM2UC"]
    assert model_spec("SMTL1500RM2UC").cycle_life >= 5 * model_spec("SMT1500C").cycle_life
    assert all(c in (LEAD_ACID, LI_ION) for c in chemistries.values())


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown model 'SMX9000'\. Known models: .*SMT1500C"):
        model_spec("SMX9000")


@pytest.mark.parametrize("model", EXPECTED_MODELS)
def test_runtime_exponent_is_a_realistic_peukert_like_figure(model):
    assert 1.2 <= model_spec(model).runtime_exponent <= 1.8
