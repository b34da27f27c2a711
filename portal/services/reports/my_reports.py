"""MyInventory and MyRenewals: which devices, which columns, and the CSV and XLSX writers.

Rows are produced by a streamed query of plain columns (no ORM objects, `yield_per` chunks), and the
writers consume them one at a time, so exporting ten thousand devices keeps memory flat: CSV is sent
as it is written, XLSX goes through XlsxWriter's constant-memory mode into a temporary file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import xlsxwriter
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import BatteryDischarge, Company, Device, DeviceStatus, SubscriptionSegment, User
from portal.services.accounts import access
from portal.services.errors import NotFound
from portal.services.fleet.battery_estimates import latest_estimate
from portal.services.fleet.device_dates import device_dates, registered_on
from portal.services.fleet.firmware import update_available
from portal.services.licensing.plans import Plan
from portal.services.licensing.price_list import PriceList, battery_sku_for, load_price_list

CHUNK = 1000
NO_SUCH_CUSTOMER = "No such customer in your account."


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text | number | date
    width: int = 14


INVENTORY_COLUMNS: tuple[Column, ...] = (
    Column("customer", "Customer", width=24),
    Column("model", "Model", width=14),
    Column("serial", "Serial number", width=16),
    Column("name", "Name", width=22),
    Column("location", "Location", width=18),
    Column("site", "Site", width=18),
    Column("load", "Load (%)", "number", 9),
    Column("charge", "Battery charge (%)", "number", 10),
    Column("temperature", "Internal temperature (°C)", "number", 12),
    Column("firmware", "Firmware installed", width=20),
    Column("firmware_status", "Firmware status", width=26),
    Column("plan", "Plan", width=10),
    Column("subscription_expiry", "Subscription expiry", "date", 12),
    Column("battery_installed", "Battery installed", "date", 12),
    Column("battery_replace_by", "Battery replace by", "date", 12),
    Column("battery_sku", "Replacement battery SKU", width=18),
    Column("battery_warranty_expiry", "Battery warranty expiry", "date", 12),
    Column("warranty_expiry", "Warranty expiry", "date", 12),
    Column("warranty_sku", "Warranty extension SKU", width=20),
    Column("battery_health", "Battery health (% of new)", "number", 11),
    Column("battery_replace_by_predicted", "Battery replace by (predicted)", "date", 14),
)

# MyRenewals: no status or operational data (FAQ 8). The quote upload reads exactly these headers.
RENEWALS_COLUMNS: tuple[Column, ...] = (
    Column("customer", "Customer", width=24),
    Column("model", "Model", width=14),
    Column("serial", "Serial number", width=16),
    Column("plan", "Plan", width=10),
    Column("subscription_expiry", "Subscription expiry", "date", 12),
    Column("battery_replace_by", "Battery replace by", "date", 12),
    Column("battery_sku", "Replacement battery SKU", width=18),
    Column("battery_warranty_expiry", "Battery warranty expiry", "date", 12),
    Column("warranty_expiry", "Warranty expiry", "date", 12),
    Column("warranty_sku", "Warranty extension SKU", width=20),
)

REPORTS = {
    "inventory": ("MyInventory", INVENTORY_COLUMNS),
    "renewals": ("MyRenewals", RENEWALS_COLUMNS),
}


# ---------------------------------------------------------------------------------------------
# Which devices


@dataclass(frozen=True)
class Customer:
    company_id: int
    name: str
    devices: int


def customers(user: User) -> list[Customer]:
    """The companies whose devices this user's reports cover (its own and those that shared with it)."""
    visible = access.visible_devices(user).where(Device.owner_company_id.is_not(None)).subquery()
    rows = db.session.execute(
        select(Company.id, Company.name, func.count(visible.c.id))
        .join(visible, visible.c.owner_company_id == Company.id)
        .group_by(Company.id, Company.name)
        .order_by(Company.name)
    )
    return [Customer(company_id, name, count) for company_id, name, count in rows]


def check_customer(user: User, customer_id: int | None) -> None:
    """NotFound unless `customer_id` is None or a company whose devices the user may see."""
    if customer_id is None:
        return
    if customer_id not in {c.company_id for c in customers(user)}:
        raise NotFound(NO_SUCH_CUSTOMER)


def scoped_devices(user: User, customer_id: int | None = None):
    """The report's device query: visible to the user, owned by someone, optionally one customer."""
    query = access.visible_devices(user).where(Device.owner_company_id.is_not(None))
    if customer_id is not None:
        query = query.where(Device.owner_company_id == customer_id)
    return query


def device_count(user: User, customer_id: int | None = None) -> int:
    query = scoped_devices(user, customer_id).with_only_columns(func.count(Device.id)).order_by(None)
    return db.session.scalar(query) or 0


# ---------------------------------------------------------------------------------------------
# Derived values


def _number(value: object) -> float | None:
    try:
        return round(float(value), 1) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def firmware_status(model: str, installed: str) -> str:
    if not installed:
        return "Unknown"
    newer = update_available(model, installed)
    return f"Update available: {newer}" if newer else "Up to date"


# ---------------------------------------------------------------------------------------------
# Rows


def _row_query(user: User, customer_id: int | None, today: date, device_ids: Collection[int] | None = None):
    running_plan = (
        select(SubscriptionSegment.plan)
        .where(
            SubscriptionSegment.device_id == Device.id,
            SubscriptionSegment.start <= today,
            SubscriptionSegment.end > today,
        )
        .limit(1)
        .scalar_subquery()
    )
    term_end = (
        select(func.max(SubscriptionSegment.end))
        .where(SubscriptionSegment.device_id == Device.id)
        .scalar_subquery()
    )
    scope = scoped_devices(user, customer_id)
    if device_ids is not None:
        scope = scope.where(Device.id.in_(list(device_ids)))
    return (
        scope.with_only_columns(
            Device.id,
            Device.serial,
            Device.model,
            Device.name,
            Device.location,
            Device.site,
            Device.firmware,
            Device.battery_installed_on,
            Device.battery_warranty_ends_on,
            Device.warranty_ends_on,
            Device.trial_started_on,
            Device.claimed_at,
            Company.name.label("customer"),
            DeviceStatus.variables,
            func.coalesce(running_plan, "basic").label("plan"),
            term_end.label("term_end"),
            latest_estimate(BatteryDischarge.estimate_health, Device.id).label("battery_health"),
            latest_estimate(BatteryDischarge.estimate_replace_by, Device.id).label("battery_predicted"),
        )
        .join(Company, Company.id == Device.owner_company_id)
        .outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
        .order_by(Company.name, Device.model, Device.serial)
        .execution_options(yield_per=CHUNK)
    )


def device_rows(
    user: User,
    *,
    today: date,
    customer_id: int | None = None,
    prices: PriceList | None = None,
    device_ids: Collection[int] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every column of MyInventory (MyRenewals is a subset) for each device, streamed in chunks."""
    prices = prices or load_price_list()
    warranty_skus: dict[str, str | None] = {}
    for row in db.session.execute(_row_query(user, customer_id, today, device_ids)):
        variables = row.variables or {}
        dates = device_dates(
            model=row.model, variables=variables, battery_installed_on=row.battery_installed_on,
            battery_warranty_ends_on=row.battery_warranty_ends_on, warranty_ends_on=row.warranty_ends_on,
            registered_on=registered_on(row.trial_started_on, row.claimed_at),
        )
        if row.model not in warranty_skus:
            warranty_skus[row.model] = prices.warranty_sku_for(row.model, 1)
        yield {
            "device_id": row.id,
            "customer": row.customer,
            "model": row.model,
            "serial": row.serial,
            "name": row.name,
            "location": row.location,
            "site": row.site,
            "load": _number(variables.get("ups.load")),
            "charge": _number(variables.get("battery.charge")),
            "temperature": _number(variables.get("ups.temperature")),
            "firmware": row.firmware,
            "firmware_status": firmware_status(row.model, row.firmware),
            "plan": Plan.from_key(row.plan).display_name,
            "subscription_expiry": row.term_end,
            "battery_installed": dates.battery_installed_on,
            "battery_replace_by": dates.battery_replace_by,
            "battery_sku": battery_sku_for(row.model),
            "battery_warranty_expiry": dates.battery_warranty_ends_on,
            "warranty_expiry": dates.warranty_ends_on,
            "warranty_sku": warranty_skus[row.model],
            "battery_health": None if row.battery_health is None else round(row.battery_health * 100),
            "battery_replace_by_predicted": row.battery_predicted,
        }


# ---------------------------------------------------------------------------------------------
# Writers

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell: ISO dates, plain numbers, and text that a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_stream(
    columns: Sequence[Column], rows: Iterable[dict[str, Any]], flush_every: int = 500
) -> Iterator[str]:
    """CSV text in chunks: a UTF-8 BOM (so Excel reads the accents), the header, then the rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([c.header for c in columns])
    for n, row in enumerate(rows, 1):
        writer.writerow([csv_cell(row.get(c.key)) for c in columns])
        if n % flush_every == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


Sheet = tuple[str, Sequence[Column], Iterable[dict[str, Any]]]  # (name, columns, rows)


def write_xlsx(path: str, sheet_name: str, columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> int:
    """Write one sheet to `path` in constant memory: header, then one row per item; returns rows written."""
    return write_workbook(path, [(sheet_name, columns, rows)])[0]


def write_workbook(path: str, sheets: Sequence[Sheet], money_keys: Collection[str] = ()) -> list[int]:
    """Write sheets in constant memory, each a header and typed cells (dates, numbers, text that is
    never run as a formula); columns named in `money_keys` get two decimals. Returns rows per sheet."""
    workbook = xlsxwriter.Workbook(
        path, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    counts = []
    try:
        bold = workbook.add_format({"bold": True, "bg_color": "#E8EDF1", "text_wrap": True, "valign": "top"})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        money = workbook.add_format({"num_format": "#,##0.00"})
        for sheet_name, columns, rows in sheets:
            sheet = workbook.add_worksheet(sheet_name[:31])
            for i, column in enumerate(columns):
                sheet.set_column(i, i, column.width)
                sheet.write_string(0, i, column.header, bold)
            sheet.freeze_panes(1, 0)
            count = 0
            for r, row in enumerate(rows, 1):
                for i, column in enumerate(columns):
                    _write_cell(
                        sheet,
                        r,
                        i,
                        row.get(column.key),
                        stamp,
                        day,
                        money if column.key in money_keys else None,
                    )
                count = r
            sheet.autofilter(0, 0, max(count, 1), len(columns) - 1)
            counts.append(count)
    finally:
        workbook.close()
    return counts


def _write_cell(sheet, r: int, i: int, value: object, stamp, day, number_format) -> None:
    if value is None or value == "":
        return
    if isinstance(value, datetime):
        sheet.write_datetime(r, i, value, stamp)
    elif isinstance(value, date):
        sheet.write_datetime(r, i, datetime(value.year, value.month, value.day), day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        sheet.write_number(r, i, value, number_format)
    else:
        sheet.write_string(r, i, str(value))


def filename(report: str, today: date, ext: str, suffix: str = "") -> str:
    title = REPORTS[report][0] if report in REPORTS else report
    return f"{title}{suffix}-{today.isoformat()}.{ext}"
