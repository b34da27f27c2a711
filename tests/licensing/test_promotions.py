"""The Advanced plan promotion: extra months at activation, free licenses on big orders, the calculator."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.services.errors import LicensingError
from portal.services.licensing.products import TRIAL_PRODUCT, product_for_sku
from portal.services.licensing.promotions import (
    PROMOTIONS,
    Promotion,
    VolumeExtra,
    activation_bonus_months,
    active_promotions,
    order_free_quantity,
    parse_promotions,
    quantity_calculator,
    quote_options,
)

d = date
INSIDE = d(2026, 11, 1)
BEFORE = d(2024, 5, 31)
AFTER = d(2027, 7, 1)


def test_shipped_promotion_is_the_advanced_plan_promotion_from_june_2024() -> None:
    (promotion,) = PROMOTIONS
    assert promotion.name == "Advanced plan promotion"
    assert promotion.starts_on == d(2024, 6, 1)
    assert promotion.ends_on == d(2027, 6, 30)
    assert promotion.bonus_months_by_term_years == ((1, 3), (3, 6))
    assert promotion.volume == VolumeExtra(more_than=10, free_per_ordered=10, free_quantity=1)


@pytest.mark.parametrize(
    ("on", "active"),
    [(d(2024, 5, 31), False), (d(2024, 6, 1), True), (d(2027, 6, 30), True), (d(2027, 7, 1), False)],
)
def test_window_is_inclusive_at_both_ends(on: date, active: bool) -> None:
    assert bool(active_promotions(on)) is active


@pytest.mark.parametrize(
    ("sku", "on", "bonus"),
    [
        ("SCADV1Y", INSIDE, 3),
        ("SCADV3Y", INSIDE, 6),
        ("SCADV5Y", INSIDE, 0),  # only 1Y and 3Y Advanced are promoted
        ("SCSTD1Y", INSIDE, 0),
        ("SCSTD3Y", INSIDE, 0),
        ("SCADV1Y", BEFORE, 0),
        ("SCADV3Y", AFTER, 0),
        ("SCADV1Y", d(2027, 6, 30), 3),
    ],
)
def test_activation_bonus_months(sku: str, on: date, bonus: int) -> None:
    assert activation_bonus_months(product_for_sku(sku), on) == bonus


def test_the_trial_never_earns_a_bonus() -> None:
    assert activation_bonus_months(TRIAL_PRODUCT, INSIDE) == 0


@pytest.mark.parametrize(
    ("sku", "quantity", "on", "free"),
    [
        ("SCADV1Y", 10, INSIDE, 0),  # "more than 10"
        ("SCADV1Y", 11, INSIDE, 1),
        ("SCADV1Y", 19, INSIDE, 1),
        ("SCADV1Y", 20, INSIDE, 2),
        ("SCADV3Y", 100, INSIDE, 10),
        ("SCADV5Y", 50, INSIDE, 0),
        ("SCSTD1Y", 50, INSIDE, 0),
        ("SCADV1Y", 50, AFTER, 0),
        ("SCADV1Y", 50, BEFORE, 0),
    ],
)
def test_order_free_quantity(sku: str, quantity: int, on: date, free: int) -> None:
    assert order_free_quantity(product_for_sku(sku), quantity, on) == free


def test_calculator_inside_the_window() -> None:
    quote = quantity_calculator(product_for_sku("SCADV1Y"), 25, INSIDE, unit_price=Decimal("120"))
    assert (quote.paid_quantity, quote.free_quantity, quote.total_licenses) == (25, 2, 27)
    assert (quote.bonus_months_per_license, quote.months_per_license) == (3, 15)
    assert quote.total_device_months == 27 * 15
    assert quote.total_price == Decimal("3000.00")
    # 3000 for 405 device-months = 33.75 device-years: 88.89 a device-year instead of 120.
    assert quote.price_per_device_year == Decimal("88.89")
    assert quote.promotion_names == ("Advanced plan promotion",)
    assert quote.bonus_if_activated_by == d(2027, 6, 30)


def test_calculator_outside_the_window_is_plain_arithmetic() -> None:
    quote = quantity_calculator(product_for_sku("SCADV3Y"), 25, AFTER, unit_price=300)
    assert (quote.free_quantity, quote.total_licenses, quote.months_per_license) == (0, 25, 36)
    assert quote.total_device_months == 900
    assert quote.price_per_device_year == Decimal("100.00")
    assert quote.promotion_names == () and quote.bonus_if_activated_by is None


def test_calculator_without_a_price() -> None:
    quote = quantity_calculator(product_for_sku("SCSTD5Y"), 3, INSIDE)
    assert (quote.total_licenses, quote.months_per_license, quote.total_device_months) == (3, 60, 180)
    assert quote.unit_price is None and quote.total_price is None and quote.price_per_device_year is None


@pytest.mark.parametrize(("quantity", "price", "field"), [(0, None, "quantity"), (1, "-1", "unit_price")])
def test_calculator_refuses_nonsense(quantity: int, price: str | None, field: str) -> None:
    with pytest.raises(LicensingError) as refused:
        quantity_calculator(product_for_sku("SCADV1Y"), quantity, INSIDE, unit_price=price)
    assert refused.value.field == field


def test_calculator_refuses_the_trial() -> None:
    with pytest.raises(LicensingError, match="cannot be ordered"):
        quantity_calculator(TRIAL_PRODUCT, 1, INSIDE)


def test_quote_options_cover_both_plans_and_three_terms() -> None:
    quotes = quote_options(12, INSIDE, {"SCADV1Y": Decimal("100")})
    assert [q.sku for q in quotes] == ["SCSTD1Y", "SCSTD3Y", "SCSTD5Y", "SCADV1Y", "SCADV3Y", "SCADV5Y"]
    adv1 = quotes[3]
    assert (adv1.free_quantity, adv1.months_per_license, adv1.total_price) == (1, 15, Decimal("1200.00"))
    assert quotes[0].total_price is None


TOML = """
[[promotion]]
name = "Spring"
starts_on = 2030-03-01
ends_on = 2030-05-31
plan = "standard"
[promotion.bonus_months_by_term_years]
5 = 12

[[promotion]]
name = "Better spring"
starts_on = 2030-04-01
ends_on = 2030-04-30
plan = "standard"
[promotion.bonus_months_by_term_years]
5 = 18
[promotion.volume]
more_than = 4
free_per_ordered = 5
free_quantity = 2
"""


def test_promotions_are_data_and_the_best_one_wins() -> None:
    promotions = parse_promotions(TOML)
    std5 = product_for_sku("SCSTD5Y")
    assert activation_bonus_months(std5, d(2030, 3, 15), promotions) == 12
    assert (
        activation_bonus_months(std5, d(2030, 4, 15), promotions) == 18
    )  # not 30: no stacking of promotions
    assert order_free_quantity(std5, 10, d(2030, 4, 15), promotions) == 4
    assert order_free_quantity(std5, 10, d(2030, 3, 15), promotions) == 0


@pytest.mark.parametrize(
    "broken",
    [
        TOML.replace("ends_on = 2030-05-31", "ends_on = 2030-02-01"),
        TOML.replace("5 = 12", "5 = -1"),
        TOML.replace("free_per_ordered = 5", "free_per_ordered = 0"),
    ],
)
def test_malformed_promotion_data_is_refused(broken: str) -> None:
    with pytest.raises(ValueError):
        parse_promotions(broken)


@given(
    st.sampled_from(["SCSTD1Y", "SCSTD3Y", "SCSTD5Y", "SCADV1Y", "SCADV3Y", "SCADV5Y"]),
    st.integers(1, 500),
    st.dates(min_value=d(2024, 1, 1), max_value=d(2028, 12, 31)),
)
def test_more_ordered_never_yields_less(sku: str, quantity: int, on: date) -> None:
    product = product_for_sku(sku)
    now, more = quantity_calculator(product, quantity, on), quantity_calculator(product, quantity + 1, on)
    assert more.total_licenses > now.total_licenses
    assert now.total_licenses == now.paid_quantity + now.free_quantity
    assert now.total_device_months == now.total_licenses * now.months_per_license
    assert now.months_per_license >= product.months


def test_promotion_dataclass_is_frozen() -> None:
    promotion: Promotion = PROMOTIONS[0]
    with pytest.raises(AttributeError):
        promotion.name = "x"  # type: ignore[misc]
