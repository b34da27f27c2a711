"""The price list quotes are priced from, as data (price_list.toml), and the SKU look-ups around it.

The file holds license, battery and warranty-extension prices in one currency, and the warranty
classes that say which service pack a model needs. A deployment points PRICE_LIST_PATH (app config)
at its own file; without it the file shipped beside this module is used.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context

from catalog.ups_models import model_spec

DEFAULT_PATH = Path(__file__).with_name("price_list.toml")


@dataclass(frozen=True)
class WarrantyClass:
    """Models up to `max_va` take this service pack; `skus` maps years of extension to a SKU."""

    name: str
    max_va: int
    skus: tuple[tuple[int, str], ...]  # ((1, "WBEXTWAR1YR-SP-01"), (3, ...)), shortest first


@dataclass(frozen=True)
class PriceList:
    currency: str
    licenses: dict[str, Decimal] = field(default_factory=dict)
    batteries: dict[str, Decimal] = field(default_factory=dict)
    warranty_extensions: dict[str, Decimal] = field(default_factory=dict)
    warranty_classes: tuple[WarrantyClass, ...] = ()

    def price_for(self, sku: str) -> Decimal | None:
        """The unit price of any SKU on the list, or None ("price on request")."""
        for table in (self.licenses, self.batteries, self.warranty_extensions):
            if sku in table:
                return table[sku]
        return None

    def warranty_class_for(self, model: str) -> WarrantyClass | None:
        """The service pack class of a catalogue model (by VA rating); None for unknown models."""
        try:
            va = model_spec(model).va_rating
        except ValueError:
            return None
        return next(
            (c for c in sorted(self.warranty_classes, key=lambda c: c.max_va) if va <= c.max_va), None
        )

    def warranty_sku_for(self, model: str, years_needed: int) -> str | None:
        """The shortest extension of the model's class covering `years_needed`, else its longest."""
        wclass = self.warranty_class_for(model)
        if wclass is None or not wclass.skus:
            return None
        for years, sku in wclass.skus:
            if years >= years_needed:
                return sku
        return wclass.skus[-1][1]


def battery_sku_for(model: str) -> str | None:
    """The replacement battery cartridge of a catalogue model, None when the model is unknown."""
    try:
        return model_spec(model).battery_sku
    except ValueError:
        return None


def _prices(table: Any, section: str) -> dict[str, Decimal]:
    if not isinstance(table, dict):
        raise ValueError(f'Price list: [{section}] must be a table of SKU = "price".')
    prices = {}
    for sku, value in table.items():
        try:
            price = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"Price list: [{section}] {sku} = {value!r} is not a price.") from None
        if price < 0:
            raise ValueError(f"Price list: [{section}] {sku} cannot be negative.")
        prices[str(sku).strip().upper()] = price
    return prices


def parse_price_list(text: str) -> PriceList:
    """A PriceList from TOML text shaped like price_list.toml; ValueError when malformed."""
    data = tomllib.loads(text)
    currency = data.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        raise ValueError('Price list: `currency` is required (e.g. "EUR").')
    classes = []
    for table in data.get("warranty_class", []):
        skus = tuple(sorted((int(years), str(sku).upper()) for years, sku in table["skus"].items()))
        classes.append(WarrantyClass(str(table["name"]), int(table["max_va"]), skus))
    return PriceList(
        currency=currency.strip(),
        licenses=_prices(data.get("licenses", {}), "licenses"),
        batteries=_prices(data.get("batteries", {}), "batteries"),
        warranty_extensions=_prices(data.get("warranty_extensions", {}), "warranty_extensions"),
        warranty_classes=tuple(classes),
    )


_cache: dict[tuple[str, float], PriceList] = {}


def load_price_list(path: str | Path | None = None) -> PriceList:
    """The price list at `path`, or PRICE_LIST_PATH from the app config, or the shipped file.

    Parsed once per file version (path and modification time), so an edited file is picked up.
    """
    if path is None and has_app_context():
        path = current_app.config.get("PRICE_LIST_PATH")
    resolved = Path(path or DEFAULT_PATH)
    key = (str(resolved), resolved.stat().st_mtime)
    if key not in _cache:
        _cache[key] = parse_price_list(resolved.read_text("utf-8"))
    return _cache[key]
