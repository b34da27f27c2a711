"""License products: Standard and Advanced for 1, 3 and 5 years, the trial, and refused warranties."""

from __future__ import annotations

import pytest

from portal.services.errors import LicensingError
from portal.services.licensing.plans import Plan
from portal.services.licensing.products import (
    EXTENDED_WARRANTY_MESSAGE,
    PRODUCTS,
    SELLABLE_PRODUCTS,
    TRIAL_BATTERY_WARRANTY_BONUS_MONTHS,
    TRIAL_MONTHS,
    TRIAL_PRODUCT,
    is_extended_warranty_sku,
    product_for_sku,
    products_for_plan,
    sellable_product_for_sku,
    trial_battery_warranty_bonus_months,
)


@pytest.mark.parametrize(
    ("sku", "plan", "months", "years"),
    [
        ("SCSTD1Y", Plan.STANDARD, 12, 1),
        ("SCSTD3Y", Plan.STANDARD, 36, 3),
        ("SCSTD5Y", Plan.STANDARD, 60, 5),
        ("SCADV1Y", Plan.ADVANCED, 12, 1),
        ("SCADV3Y", Plan.ADVANCED, 36, 3),
        ("SCADV5Y", Plan.ADVANCED, 60, 5),
    ],
)
def test_sellable_products(sku: str, plan: Plan, months: int, years: int) -> None:
    product = sellable_product_for_sku(sku)
    assert (product.sku, product.plan, product.months, product.years) == (sku, plan, months, years)


def test_sku_lookup_ignores_case_and_spaces() -> None:
    assert product_for_sku("  scadv3y ").sku == "SCADV3Y"


def test_six_sellable_products_two_plans_three_terms() -> None:
    assert len(SELLABLE_PRODUCTS) == 6
    assert [p.years for p in products_for_plan(Plan.ADVANCED)] == [1, 3, 5]
    assert products_for_plan(Plan.BASIC) == ()
    assert len({p.sku for p in PRODUCTS}) == len(PRODUCTS)


def test_trial_is_six_months_of_standard_and_not_sellable() -> None:
    assert TRIAL_MONTHS == 6
    assert (TRIAL_PRODUCT.plan, TRIAL_PRODUCT.months, TRIAL_PRODUCT.sellable) == (Plan.STANDARD, 6, False)
    assert product_for_sku(TRIAL_PRODUCT.sku) is TRIAL_PRODUCT
    with pytest.raises(LicensingError, match="cannot be ordered"):
        sellable_product_for_sku(TRIAL_PRODUCT.sku)


@pytest.mark.parametrize(
    "sku", ["WEXTWAR1YR-SP-01", "WBEXTWAR1YR-SP-01", "wbextwar3yr-sp-03", " WEXTWAR5YR "]
)
def test_extended_warranties_never_extend_monitoring(sku: str) -> None:
    assert is_extended_warranty_sku(sku)
    with pytest.raises(LicensingError) as refused:
        product_for_sku(sku)
    assert refused.value.message == EXTENDED_WARRANTY_MESSAGE
    assert "do not extend SmartConnect monitoring plans" in refused.value.message


@pytest.mark.parametrize("sku", ["SCSTD2Y", "", "EXTWAR1YR", "SMT1500RMI2UC"])
def test_unknown_sku_lists_the_valid_ones(sku: str) -> None:
    with pytest.raises(LicensingError) as refused:
        product_for_sku(sku)
    assert "Unknown license SKU" in refused.value.message
    assert "SCSTD1Y" in refused.value.message and "SCADV5Y" in refused.value.message
    assert refused.value.field == "sku"


@pytest.mark.parametrize(
    ("battery_type", "bonus"),
    [("lead-acid", 12), ("PbAc", 12), ("VRLA", 12), ("li-ion", 0), ("LiFePO4", 0)],
)
def test_lead_acid_units_get_a_year_of_battery_warranty_with_the_trial(battery_type: str, bonus: int) -> None:
    assert TRIAL_BATTERY_WARRANTY_BONUS_MONTHS == 12
    assert trial_battery_warranty_bonus_months(battery_type) == bonus


def test_display_names() -> None:
    assert product_for_sku("SCADV1Y").display_name == "Advanced plan, 1 year"
    assert product_for_sku("SCSTD5Y").display_name == "Standard plan, 5 years"
    assert TRIAL_PRODUCT.display_name == "Standard plan, 6-month trial"
