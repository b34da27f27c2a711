"""License products (SKUs) as data, the trial, and the extended-warranty SKUs that are refused."""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.services.errors import LicensingError
from portal.services.licensing.plans import Plan

TRIAL_MONTHS = 6
# Lead-acid units that register for the trial get one more year of battery warranty (FAQ 1).
TRIAL_BATTERY_WARRANTY_BONUS_MONTHS = 12

EXTENDED_WARRANTY_MESSAGE = (
    "Extended warranties (WEXTWAR / WBEXTWAR) cover the UPS electronics and battery "
    "and do not extend SmartConnect monitoring plans."
)
# WEXTWAR1YR-SP-01, WBEXTWAR3YR-SP-03, ...: recognised by their prefix, whatever the suffix.
_EXTENDED_WARRANTY_SKU = re.compile(r"^WB?EXTWAR")
# Battery chemistry names that mean lead-acid: ours, NUT's battery.type, and common trade names.
_LEAD_ACID_NAMES = frozenset({"lead-acid", "lead_acid", "leadacid", "pbac", "vrla", "sla"})


@dataclass(frozen=True)
class LicenseProduct:
    """A license SKU: a plan for a number of months; only sellable products can be ordered."""

    sku: str
    plan: Plan
    months: int
    sellable: bool = True

    @property
    def years(self) -> int | None:
        """The term in whole years (1, 3, 5), or None for terms that are not whole years."""
        return self.months // 12 if self.months % 12 == 0 else None

    @property
    def display_name(self) -> str:
        """What a customer reads on an order or a quote: "Advanced plan, 3 years"."""
        if not self.sellable:
            return f"{self.plan.display_name} plan, {self.months}-month trial"
        unit = "year" if self.years == 1 else "years"
        return f"{self.plan.display_name} plan, {self.years} {unit}"


# The one table of products. SKU names: SC (SmartConnect) + plan + term.
PRODUCTS: tuple[LicenseProduct, ...] = (
    LicenseProduct("SCSTD1Y", Plan.STANDARD, 12),
    LicenseProduct("SCSTD3Y", Plan.STANDARD, 36),
    LicenseProduct("SCSTD5Y", Plan.STANDARD, 60),
    LicenseProduct("SCADV1Y", Plan.ADVANCED, 12),
    LicenseProduct("SCADV3Y", Plan.ADVANCED, 36),
    LicenseProduct("SCADV5Y", Plan.ADVANCED, 60),
    LicenseProduct("SCSTDTRIAL6M", Plan.STANDARD, TRIAL_MONTHS, sellable=False),
)
_BY_SKU: dict[str, LicenseProduct] = {product.sku: product for product in PRODUCTS}

SELLABLE_PRODUCTS: tuple[LicenseProduct, ...] = tuple(p for p in PRODUCTS if p.sellable)
TRIAL_PRODUCT: LicenseProduct = _BY_SKU["SCSTDTRIAL6M"]


def normalize_sku(sku: str) -> str:
    """SKUs compare upper-case without surrounding spaces."""
    return sku.strip().upper()


def is_extended_warranty_sku(sku: str) -> bool:
    """Whether `sku` is an extended-warranty product (WEXTWAR..., WBEXTWAR...)."""
    return bool(_EXTENDED_WARRANTY_SKU.match(normalize_sku(sku)))


def product_for_sku(sku: str) -> LicenseProduct:
    """The product for `sku` (the trial included); refuses warranties and unknown SKUs."""
    key = normalize_sku(sku)
    if is_extended_warranty_sku(key):
        raise LicensingError(EXTENDED_WARRANTY_MESSAGE, field="sku")
    product = _BY_SKU.get(key)
    if product is None:
        valid = ", ".join(p.sku for p in SELLABLE_PRODUCTS)
        shown = key or "(empty)"
        raise LicensingError(f"Unknown license SKU {shown}. Valid SKUs are {valid}.", field="sku")
    return product


def sellable_product_for_sku(sku: str) -> LicenseProduct:
    """The product for `sku` when it can be ordered; the trial cannot."""
    product = product_for_sku(sku)
    if not product.sellable:
        raise LicensingError(
            "The trial is granted once per device at registration and cannot be ordered.", field="sku"
        )
    return product


def products_for_plan(plan: Plan) -> tuple[LicenseProduct, ...]:
    """The sellable products of one plan, shortest term first."""
    return tuple(sorted((p for p in SELLABLE_PRODUCTS if p.plan is plan), key=lambda p: p.months))


def is_lead_acid(battery_type: str) -> bool:
    """Whether a battery type name means lead-acid ("lead-acid", NUT's "PbAc", "VRLA")."""
    return battery_type.strip().lower() in _LEAD_ACID_NAMES


def trial_battery_warranty_bonus_months(battery_type: str) -> int:
    """Extra battery-warranty months a device earns by registering for the trial."""
    return TRIAL_BATTERY_WARRANTY_BONUS_MONTHS if is_lead_acid(battery_type) else 0
