"""Promotions as data (promotions.toml) and the license quantity calculator built on them.

Two kinds of extra, both from the FAQ's Advanced plan promotion:
- activation bonus: free months added to a license's term when it is ASSIGNED inside the window;
- volume extra: free licenses added to an ORDER placed inside the window above a quantity threshold.
Decision: when several promotions apply at once, the customer gets the best one, not the sum.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any

from portal.services.errors import LicensingError
from portal.services.licensing.plans import Plan
from portal.services.licensing.products import SELLABLE_PRODUCTS, LicenseProduct

CENT = Decimal("0.01")


@dataclass(frozen=True)
class VolumeExtra:
    """Free licenses for orders of more than `more_than`: `free_quantity` per `free_per_ordered` paid."""

    more_than: int
    free_per_ordered: int
    free_quantity: int

    def free_for(self, quantity: int) -> int:
        """Free licenses an order of `quantity` paid licenses earns."""
        if quantity <= self.more_than:
            return 0
        return quantity // self.free_per_ordered * self.free_quantity


@dataclass(frozen=True)
class Promotion:
    """A promotion window (both dates inclusive) for some terms of one plan."""

    name: str
    starts_on: date
    ends_on: date
    plan: Plan
    bonus_months_by_term_years: tuple[tuple[int, int], ...]  # ((1, 3), (3, 6)): 1Y gets 3 months
    volume: VolumeExtra | None = None

    def is_active(self, on: date) -> bool:
        """Whether `on` falls inside the window."""
        return self.starts_on <= on <= self.ends_on

    def applies_to(self, product: LicenseProduct) -> bool:
        """Whether the promotion covers this product (its plan and one of its terms)."""
        terms = {years for years, _ in self.bonus_months_by_term_years}
        return product.sellable and product.plan is self.plan and product.years in terms

    def bonus_months_for(self, product: LicenseProduct) -> int:
        """Free months a license of `product` gets at activation (0 when not covered)."""
        if not self.applies_to(product):
            return 0
        return dict(self.bonus_months_by_term_years)[product.years]


def _parse_promotion(table: Mapping[str, Any]) -> Promotion:
    """One [[promotion]] table; a malformed file is a deployment error, so ValueError."""
    starts_on, ends_on = table["starts_on"], table["ends_on"]
    if not (isinstance(starts_on, date) and isinstance(ends_on, date) and starts_on <= ends_on):
        raise ValueError(f"Promotion {table['name']!r}: starts_on and ends_on must be dates, in order.")
    bonus = tuple(
        sorted((int(years), int(months)) for years, months in table["bonus_months_by_term_years"].items())
    )
    if any(months < 0 for _, months in bonus):
        raise ValueError(f"Promotion {table['name']!r}: bonus months cannot be negative.")
    volume = None
    if "volume" in table:
        volume = VolumeExtra(**{key: int(value) for key, value in table["volume"].items()})
        if volume.free_per_ordered < 1 or volume.free_quantity < 0 or volume.more_than < 0:
            raise ValueError(f"Promotion {table['name']!r}: volume figures out of range.")
    return Promotion(table["name"], starts_on, ends_on, Plan.from_key(table["plan"]), bonus, volume)


def parse_promotions(text: str) -> tuple[Promotion, ...]:
    """Promotions from TOML text shaped like promotions.toml."""
    return tuple(_parse_promotion(table) for table in tomllib.loads(text).get("promotion", []))


def load_promotions() -> tuple[Promotion, ...]:
    """The promotions shipped with the portal (portal/services/licensing/promotions.toml)."""
    return parse_promotions(resources.files("portal.services.licensing").joinpath("promotions.toml").read_text("utf-8"))


PROMOTIONS: tuple[Promotion, ...] = load_promotions()


def active_promotions(on: date, promotions: tuple[Promotion, ...] = PROMOTIONS) -> tuple[Promotion, ...]:
    """Promotions whose window contains `on`."""
    return tuple(promotion for promotion in promotions if promotion.is_active(on))


@dataclass(frozen=True)
class Bonus:
    """Which promotion adds how many free months to a license activated on a given day."""

    promotion: str
    months: int
    ends_on: date

    def words(self) -> str:
        return f"{self.promotion}: +{self.months} free month{'s' if self.months != 1 else ''}"


def activation_bonus(
    product: LicenseProduct, on: date, promotions: tuple[Promotion, ...] = PROMOTIONS
) -> Bonus | None:
    """The promotion (the most generous, if several run) that adds free months to `product` activated on `on`."""
    offers = [(p.bonus_months_for(product), p) for p in active_promotions(on, promotions)]
    months, promotion = max(offers, key=lambda offer: offer[0], default=(0, None))
    return Bonus(promotion.name, months, promotion.ends_on) if months and promotion else None


def activation_bonus_months(
    product: LicenseProduct, on: date, promotions: tuple[Promotion, ...] = PROMOTIONS
) -> int:
    """Free months added to a license of `product` assigned to a device on `on`."""
    bonus = activation_bonus(product, on, promotions)
    return bonus.months if bonus else 0


def order_free_quantity(
    product: LicenseProduct, quantity: int, on: date, promotions: tuple[Promotion, ...] = PROMOTIONS
) -> int:
    """Free licenses added to an order of `quantity` licenses of `product` placed on `on`."""
    return max(
        (
            p.volume.free_for(quantity)
            for p in active_promotions(on, promotions)
            if p.volume is not None and p.applies_to(product)
        ),
        default=0,
    )


@dataclass(frozen=True)
class QuantityQuote:
    """What an order yields, assuming its licenses are activated while the promotion still runs."""

    sku: str
    plan: Plan
    term_months: int
    paid_quantity: int
    free_quantity: int
    total_licenses: int
    bonus_months_per_license: int
    months_per_license: int
    total_device_months: int
    promotion_names: tuple[str, ...]
    bonus_if_activated_by: date | None  # last day an activation still earns the bonus months
    unit_price: Decimal | None = None
    total_price: Decimal | None = None
    price_per_device_year: Decimal | None = None


def quantity_calculator(
    product: LicenseProduct,
    quantity: int,
    on: date,
    unit_price: Decimal | int | str | None = None,
    promotions: tuple[Promotion, ...] = PROMOTIONS,
) -> QuantityQuote:
    """What ordering `quantity` licenses of `product` on `on` gives the customer, and at what price."""
    if not product.sellable:
        raise LicensingError("The trial is granted at registration and cannot be ordered.", field="sku")
    if quantity < 1:
        raise LicensingError("Order at least one license.", field="quantity")
    free = order_free_quantity(product, quantity, on, promotions)
    bonus = activation_bonus_months(product, on, promotions)
    applying = tuple(p for p in active_promotions(on, promotions) if p.applies_to(product))
    total_licenses = quantity + free
    months = product.months + bonus
    device_months = total_licenses * months

    price = total = per_device_year = None
    if unit_price is not None:
        price = Decimal(str(unit_price))
        if price < 0:
            raise LicensingError("A unit price cannot be negative.", field="unit_price")
        total = (price * quantity).quantize(CENT, ROUND_HALF_UP)
        per_device_year = (total * 12 / device_months).quantize(CENT, ROUND_HALF_UP)

    return QuantityQuote(
        sku=product.sku,
        plan=product.plan,
        term_months=product.months,
        paid_quantity=quantity,
        free_quantity=free,
        total_licenses=total_licenses,
        bonus_months_per_license=bonus,
        months_per_license=months,
        total_device_months=device_months,
        promotion_names=tuple(p.name for p in applying),
        bonus_if_activated_by=max((p.ends_on for p in applying if p.bonus_months_for(product)), default=None),
        unit_price=price,
        total_price=total,
        price_per_device_year=per_device_year,
    )


def quote_options(
    quantity: int,
    on: date,
    unit_prices: Mapping[str, Decimal | int | str] | None = None,
    promotions: tuple[Promotion, ...] = PROMOTIONS,
) -> tuple[QuantityQuote, ...]:
    """One quote per sellable product (Standard and Advanced, 1, 3 and 5 years) for a partner's quote."""
    prices = unit_prices or {}
    return tuple(
        quantity_calculator(product, quantity, on, prices.get(product.sku), promotions)
        for product in SELLABLE_PRODUCTS
    )
