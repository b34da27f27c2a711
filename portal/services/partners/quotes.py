"""Partner renewal quotes: from shared devices or an uploaded MyRenewals file, priced from the price list.

A quote stores its input (one line per device: model, serial, expiry dates, SKUs) and is priced each
time it is shown or downloaded: for 1, 3 and 5 years, Standard and Advanced, each option carries
the licenses (through the promotion's license quantity calculator), the batteries whose replace-by
date falls before the end of the new term, and the warranty extensions for warranties that expire
before it.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import Device, Quote, User
from portal.services.accounts import access
from portal.services.calendar_dates import add_months
from portal.services.errors import DomainError, NotFound
from portal.services.fleet.battery_life import battery_life_months
from portal.services.licensing.plans import Plan
from portal.services.licensing.price_list import PriceList, battery_sku_for, load_price_list
from portal.services.licensing.products import SELLABLE_PRODUCTS, LicenseProduct, products_for_plan
from portal.services.licensing.promotions import QuantityQuote, quantity_calculator
from portal.services.reports import my_reports

TERMS = (1, 3, 5)
PLANS = (Plan.STANDARD, Plan.ADVANCED)
DEFAULT_BATTERY_LIFE_MONTHS = 60
MAX_DEVICES = 5000
NOT_FOUND = "No such quote."
_DATE_KEYS = ("subscription_expiry", "battery_replace_by", "battery_warranty_expiry", "warranty_expiry")
LINE_KEYS = ("customer", "model", "serial", "plan", *_DATE_KEYS, "battery_sku", "warranty_sku")


class QuoteError(DomainError):
    """A quote cannot be made from what was given."""


# ---------------------------------------------------------------------------------------------
# Making a quote


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    """A quote line as JSON: the report's keys, dates as ISO strings."""
    line = {key: row.get(key) or "" for key in LINE_KEYS}
    for key in _DATE_KEYS:
        value = row.get(key)
        line[key] = value.isoformat() if isinstance(value, date) else ""
    return line


def lines_from_devices(user: User, device_ids: Sequence[int], *, today: date) -> list[dict[str, Any]]:
    """Quote lines for devices shared with the user's company; any other id is refused."""
    wanted = sorted(set(device_ids))
    if not wanted:
        raise QuoteError("Select at least one device.", field="device")
    if len(wanted) > MAX_DEVICES:
        raise QuoteError(f"A quote covers at most {MAX_DEVICES:,} devices.", field="device")
    shared = set(
        db.session.scalars(
            access.shared_devices(user).with_only_columns(Device.id).where(Device.id.in_(wanted))
        )
    )
    if shared != set(wanted):
        # Like any device the user may not act on: not found, so guessing ids reveals nothing.
        raise NotFound(access.NOT_FOUND)
    rows = my_reports.device_rows(user, today=today, device_ids=wanted)
    return [_stored(row) for row in rows]


def lines_from_upload(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Quote lines from parsed MyRenewals rows (see renewals_upload.parse_renewals)."""
    return [_stored(row) for row in rows]


def create_quote(
    user: User, *, source: str, lines: list[dict[str, Any]], customer_name: str, today: date, now: datetime
) -> Quote:
    if not user.company.is_partner:
        raise NotFound(NOT_FOUND)
    name = (customer_name or "").strip()
    if not name:
        customers = sorted({line["customer"] for line in lines if line.get("customer")})
        name = ", ".join(customers)[:120]
    quote = Quote(
        id=str(uuid.uuid4()),
        partner_company_id=user.company_id,
        created_by_user_id=user.id,
        customer_name=name[:120],
        source=source,
        quoted_on=today,
        created_at=now,
        lines=lines,
    )
    db.session.add(quote)
    db.session.flush()
    return quote


def quote_for(user: User, quote_id: str) -> Quote:
    """The quote if the user's (partner) company made it; NotFound for anyone else."""
    try:
        key = str(uuid.UUID(str(quote_id)))
    except ValueError:
        raise NotFound(NOT_FOUND) from None
    return access.row_for(
        Quote,
        key,
        allowed=lambda quote: user.company.is_partner and quote.partner_company_id == user.company_id,
        message=NOT_FOUND,
    )


def recent_quotes(user: User, limit: int = 20) -> list[Quote]:
    return list(
        db.session.scalars(
            select(Quote)
            .where(Quote.partner_company_id == user.company_id)
            .order_by(Quote.created_at.desc())
            .limit(limit)
        )
    )


# ---------------------------------------------------------------------------------------------
# Pricing


@dataclass(frozen=True)
class PricedLine:
    kind: str  # License | Battery | Warranty extension
    sku: str
    description: str
    quantity: int
    unit_price: Decimal | None
    free_quantity: int = 0

    @property
    def total(self) -> Decimal | None:
        return (
            None if self.unit_price is None else (self.unit_price * self.quantity).quantize(Decimal("0.01"))
        )


@dataclass(frozen=True)
class Option:
    years: int
    plan: Plan
    product: LicenseProduct
    licenses: QuantityQuote
    lines: tuple[PricedLine, ...]

    @property
    def title(self) -> str:
        return self.product.display_name

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines if line.total is not None), Decimal("0.00"))

    @property
    def unpriced(self) -> tuple[str, ...]:
        return tuple(line.sku for line in self.lines if line.unit_price is None)


@dataclass(frozen=True)
class DeviceNeeds:
    line: dict[str, Any]
    battery_in_term: dict[int, int]  # term years -> batteries needed before the new term ends
    warranty_in_term: dict[int, str | None]  # term years -> extension SKU when the warranty ends inside

    def day(self, key: str) -> date | None:
        value = self.line.get(key)
        return date.fromisoformat(value) if value else None


@dataclass
class PricedQuote:
    quote: Quote
    currency: str
    devices: list[DeviceNeeds]
    options: dict[tuple[int, Plan], Option]
    calculator: list[QuantityQuote] = field(default_factory=list)
    calculator_quantity: int = 0

    def option(self, years: int, plan: Plan) -> Option:
        return self.options[(years, plan)]


def term_window(line: dict[str, Any], quoted_on: date, years: int) -> tuple[date, date]:
    """From the quote date, or the current expiry if later (a renewal is appended), for the term."""
    expiry = date.fromisoformat(line["subscription_expiry"]) if line.get("subscription_expiry") else None
    start = max(quoted_on, expiry) if expiry else quoted_on
    return start, add_months(start, 12 * years)


def batteries_needed(line: dict[str, Any], until: date) -> int:
    """Replacements due before `until`: the replace-by date (even if past), then every design life after."""
    if not line.get("battery_replace_by"):
        return 0
    due = date.fromisoformat(line["battery_replace_by"])
    life = battery_life_months(line.get("model", "")) or DEFAULT_BATTERY_LIFE_MONTHS
    count = 0
    while due < until and count < 10:
        count += 1
        due = add_months(due, life)
    return count


def warranty_needed(line: dict[str, Any], quoted_on: date, until: date, prices: PriceList) -> str | None:
    """The extension SKU when the warranty ends before `until`, sized to cover up to it."""
    if not line.get("warranty_expiry"):
        return None
    ends = date.fromisoformat(line["warranty_expiry"])
    if ends >= until:
        return None
    years = max(1, math.ceil((until - max(ends, quoted_on)).days / 365))
    return prices.warranty_sku_for(line.get("model", ""), years) or (line.get("warranty_sku") or None)


def device_needs(line: dict[str, Any], quoted_on: date, prices: PriceList) -> DeviceNeeds:
    batteries, warranties = {}, {}
    for years in TERMS:
        _, until = term_window(line, quoted_on, years)
        batteries[years] = batteries_needed(line, until)
        warranties[years] = warranty_needed(line, quoted_on, until, prices)
    return DeviceNeeds(line, batteries, warranties)


def calculator_quantities(n: int) -> list[int]:
    """The quantity asked for and the next steps where the promotion's free licenses change."""
    steps = {n}
    if n <= 10:
        steps.add(11)
    steps.add((n // 10 + 1) * 10)
    return sorted(q for q in steps if q >= 1)


def price_quote(
    quote: Quote, prices: PriceList | None = None, calculator_quantity: int | None = None
) -> PricedQuote:
    prices = prices or load_price_list()
    on = quote.quoted_on
    devices = [device_needs(line, on, prices) for line in quote.lines]
    n = len(devices)
    options: dict[tuple[int, Plan], Option] = {}
    for years in TERMS:
        battery_counts: Counter[str] = Counter()
        warranty_counts: Counter[str] = Counter()
        for needs in devices:
            count = needs.battery_in_term[years]
            if count:
                sku = (
                    needs.line.get("battery_sku")
                    or battery_sku_for(needs.line.get("model", ""))
                    or "Battery (model unknown)"
                )
                battery_counts[sku] += count
            if needs.warranty_in_term[years]:
                warranty_counts[needs.warranty_in_term[years]] += 1
        extra = [
            PricedLine("Battery", sku, f"Replacement battery cartridge {sku}", qty, prices.price_for(sku))
            for sku, qty in sorted(battery_counts.items())
        ] + [
            PricedLine(
                "Warranty extension", sku, f"Extended warranty service pack {sku}", qty, prices.price_for(sku)
            )
            for sku, qty in sorted(warranty_counts.items())
        ]
        for plan in PLANS:
            product = next(p for p in products_for_plan(plan) if p.years == years)
            calc = quantity_calculator(product, max(n, 1), on, prices.licenses.get(product.sku))
            license_line = PricedLine(
                "License",
                product.sku,
                product.display_name,
                calc.paid_quantity,
                calc.unit_price,
                calc.free_quantity,
            )
            options[(years, plan)] = Option(years, plan, product, calc, (license_line, *extra))
    qty = calculator_quantity if calculator_quantity and calculator_quantity > 0 else max(n, 1)
    calculator = [
        quantity_calculator(product, q, on, prices.licenses.get(product.sku))
        for product in SELLABLE_PRODUCTS
        for q in calculator_quantities(qty)
    ]
    return PricedQuote(quote, prices.currency, devices, options, calculator, qty)


# ---------------------------------------------------------------------------------------------
# Exports

EXPORT_COLUMNS: tuple[my_reports.Column, ...] = (
    my_reports.Column("option", "Option", width=22),
    my_reports.Column("kind", "Item", width=18),
    my_reports.Column("sku", "SKU", width=20),
    my_reports.Column("description", "Description", width=36),
    my_reports.Column("quantity", "Quantity", "number", 9),
    my_reports.Column("free", "Free quantity (promotion)", "number", 11),
    my_reports.Column("months", "Months per license", "number", 10),
    my_reports.Column("unit_price", "Unit price", "number", 11),
    my_reports.Column("total", "Line total", "number", 12),
    my_reports.Column("currency", "Currency", width=9),
)

DEVICE_COLUMNS: tuple[my_reports.Column, ...] = (
    my_reports.Column("customer", "Customer", width=24),
    my_reports.Column("model", "Model", width=14),
    my_reports.Column("serial", "Serial number", width=16),
    my_reports.Column("subscription_expiry", "Subscription expiry", "date", 12),
    my_reports.Column("battery_replace_by", "Battery replace by", "date", 12),
    my_reports.Column("battery_sku", "Replacement battery SKU", width=18),
    my_reports.Column("warranty_expiry", "Warranty expiry", "date", 12),
    *(my_reports.Column(f"battery_{y}", f"Batteries in {y}Y term", "number", 10) for y in TERMS),
    *(my_reports.Column(f"warranty_{y}", f"Warranty extension in {y}Y term", width=20) for y in TERMS),
)


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def export_rows(priced: PricedQuote) -> Iterator[dict[str, Any]]:
    for years in TERMS:
        for plan in PLANS:
            option = priced.option(years, plan)
            for line in option.lines:
                yield {
                    "option": option.title,
                    "kind": line.kind,
                    "sku": line.sku,
                    "description": line.description,
                    "quantity": line.quantity,
                    "free": line.free_quantity if line.kind == "License" else None,
                    "months": option.licenses.months_per_license if line.kind == "License" else None,
                    "unit_price": _money(line.unit_price),
                    "total": _money(line.total),
                    "currency": priced.currency,
                }
            yield {
                "option": option.title,
                "kind": "Option total",
                "total": _money(option.total),
                "currency": priced.currency,
            }


def device_export_rows(priced: PricedQuote) -> Iterator[dict[str, Any]]:
    for needs in priced.devices:
        row: dict[str, Any] = {
            key: needs.line.get(key) for key in ("customer", "model", "serial", "battery_sku")
        }
        for key in ("subscription_expiry", "battery_replace_by", "warranty_expiry"):
            row[key] = needs.day(key)
        for years in TERMS:
            row[f"battery_{years}"] = needs.battery_in_term[years]
            row[f"warranty_{years}"] = needs.warranty_in_term[years] or ""
        yield row


def write_xlsx(path: str, priced: PricedQuote) -> None:
    """Sheets "Quote" (every option's lines) and "Devices" (what each device needs per term)."""
    my_reports.write_workbook(
        path,
        [
            ("Quote", EXPORT_COLUMNS, export_rows(priced)),
            ("Devices", DEVICE_COLUMNS, device_export_rows(priced)),
        ],
        money_keys=("unit_price", "total"),
    )
