"""The outage report: transfers to battery, minutes on battery, longest outage and transfer reasons,
per device and per site, over a chosen period.

Source (decision): the device event log, pairing APC 0x0109 "On battery power in response to ..."
with the next 0x010A "No longer on battery power". Events carry the device's own timestamps to the
second and the transfer reason in their wording, so a 20-second blip counts and every transfer has a
reason. Telemetry samples (ups_status OB) arrive on an interval and would miss or stretch short
transfers, and 15-minute rollups keep only a count of OB samples, with no order and no reason; NUT's
`input.transfer.reason` is not stored per sample. See docs/reports-and-quotes.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import Company, Device, DeviceEvent, User
from portal.services.errors import DomainError
from portal.services.reports.my_reports import Column, scoped_devices, write_workbook

ON_BATTERY = "0x0109"
OFF_BATTERY = "0x010A"
DEFAULT_DAYS = 30
MAX_DAYS = 366
# Events are read from this long before the period, so an outage already running at its start is
# found and its minutes inside the period are counted (the transfer itself belongs to the earlier period).
LOOKBACK = timedelta(days=30)
NO_SITE = "(no site)"

_REASON = re.compile(r"On battery power in response to (?:an? )?(.+?)\.?\s*$", re.IGNORECASE)


class PeriodError(DomainError):
    """The chosen period cannot be reported on."""


@dataclass(frozen=True)
class Period:
    start: date  # first day, inclusive
    end: date  # last day, inclusive

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min)

    @property
    def end_at(self) -> datetime:
        """Exclusive: midnight after the last day (UTC, like every stored timestamp)."""
        return datetime.combine(self.end + timedelta(days=1), time.min)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def check_period(start: date | None, end: date | None, *, today: date) -> Period:
    if start is None:
        raise PeriodError("Enter the first day of the period.", field="start")
    if end is None:
        raise PeriodError("Enter the last day of the period.", field="end")
    if end < start:
        raise PeriodError("The last day is before the first day.", field="end")
    if start > today:
        raise PeriodError("The period starts in the future; nothing has been recorded yet.", field="start")
    if (end - start).days + 1 > MAX_DAYS:
        raise PeriodError(f"Choose a period of at most {MAX_DAYS} days.", field="start")
    return Period(start, end)


def transfer_reason(text: str) -> str:
    """ "UPS: On battery power in response to an input power problem." -> "Input power problem"."""
    match = _REASON.search(text or "")
    if match:
        reason = match.group(1).strip()
        return reason[:1].upper() + reason[1:]
    return (text or "Unknown").removeprefix("UPS: ").strip().rstrip(".") or "Unknown"


class _InMinutes:
    """Minutes, as the report shows them, of the seconds counted on a device or a site."""

    seconds_on_battery: float
    longest_s: float

    @property
    def minutes_on_battery(self) -> float:
        return round(self.seconds_on_battery / 60, 1)

    @property
    def longest_minutes(self) -> float:
        return round(self.longest_s / 60, 1)


@dataclass
class DeviceOutages(_InMinutes):
    device_id: int
    customer: str
    site: str
    name: str
    model: str
    serial: str
    transfers: int = 0
    seconds_on_battery: float = 0.0
    longest_s: float = 0.0
    reasons: Counter = field(default_factory=Counter)

    @property
    def had_outage(self) -> bool:
        return self.transfers > 0 or self.seconds_on_battery > 0

    def add_interval(self, begin: datetime, finish: datetime, period: Period) -> None:
        """Count the part of one on-battery interval that lies inside the period."""
        seconds = (min(finish, period.end_at) - max(begin, period.start_at)).total_seconds()
        if seconds > 0:
            self.seconds_on_battery += seconds
            self.longest_s = max(self.longest_s, seconds)


@dataclass
class SiteOutages(_InMinutes):
    customer: str
    site: str
    devices: int = 0
    devices_with_outages: int = 0
    transfers: int = 0
    seconds_on_battery: float = 0.0
    longest_s: float = 0.0
    reasons: Counter = field(default_factory=Counter)


@dataclass
class OutageReport:
    period: Period
    devices: list[DeviceOutages]
    sites: list[SiteOutages]

    @property
    def affected(self) -> list[DeviceOutages]:
        """Devices that were on battery in the period, most minutes first."""
        hit = [d for d in self.devices if d.had_outage]
        return sorted(hit, key=lambda d: (-d.seconds_on_battery, -d.transfers, d.customer, d.site, d.serial))

    @property
    def transfers(self) -> int:
        return sum(d.transfers for d in self.devices)

    @property
    def minutes_on_battery(self) -> float:
        return round(sum(d.seconds_on_battery for d in self.devices) / 60, 1)

    @property
    def longest_minutes(self) -> float:
        return round(max((d.longest_s for d in self.devices), default=0) / 60, 1)


def outage_report(
    user: User, period: Period, *, now: datetime, customer_id: int | None = None
) -> OutageReport:
    """Per-device and per-site outage figures for the devices the user's reports cover."""
    scope = scoped_devices(user, customer_id)
    device_rows = db.session.execute(
        scope.with_only_columns(
            Device.id, Device.serial, Device.model, Device.name, Device.site, Company.name
        )
        .join(Company, Company.id == Device.owner_company_id)
        .order_by(Company.name, Device.site, Device.serial)
    )
    devices = {
        row[0]: DeviceOutages(row[0], row[5], row[4] or NO_SITE, row[3], row[2], row[1])
        for row in device_rows
    }
    events = db.session.execute(
        select(DeviceEvent.device_id, DeviceEvent.ts, DeviceEvent.code, DeviceEvent.text)
        .where(
            DeviceEvent.device_id.in_(scope.with_only_columns(Device.id).order_by(None)),
            DeviceEvent.code.in_((ON_BATTERY, OFF_BATTERY)),
            DeviceEvent.ts >= period.start_at - LOOKBACK,
            DeviceEvent.ts < period.end_at,
        )
        .order_by(DeviceEvent.device_id, DeviceEvent.ts, DeviceEvent.seq)
        .execution_options(yield_per=5000)
    )
    window_start = period.start_at - LOOKBACK
    current: DeviceOutages | None = None
    opened: datetime | None = None
    for device_id, ts, code, text in events:
        if current is None or current.device_id != device_id:
            if current is not None and opened is not None:
                current.add_interval(opened, min(period.end_at, now), period)
            current, opened = devices.get(device_id), None
            if current is None:
                continue
        if code == ON_BATTERY:
            if opened is not None:
                continue  # already on battery: the same outage, not a second transfer
            opened = ts
            if period.start_at <= ts < period.end_at:
                current.transfers += 1
                current.reasons[transfer_reason(text)] += 1
        elif opened is not None:
            current.add_interval(opened, ts, period)
            opened = None
        else:
            # Back on line with no transfer on record (it is older than the events kept): on battery
            # since at least the start of what we read.
            current.add_interval(window_start, ts, period)
    if current is not None and opened is not None:
        current.add_interval(opened, min(period.end_at, now), period)

    sites: dict[tuple[str, str], SiteOutages] = {}
    for device in devices.values():
        site = sites.setdefault((device.customer, device.site), SiteOutages(device.customer, device.site))
        site.devices += 1
        site.devices_with_outages += int(device.had_outage)
        site.transfers += device.transfers
        site.seconds_on_battery += device.seconds_on_battery
        site.longest_s = max(site.longest_s, device.longest_s)
        site.reasons.update(device.reasons)
    ordered_sites = sorted(
        sites.values(), key=lambda s: (-s.seconds_on_battery, -s.transfers, s.customer, s.site)
    )
    return OutageReport(period, list(devices.values()), ordered_sites)


def reasons_text(reasons: Counter) -> str:
    """ "Input power problem x3; Distorted input x1", most frequent first."""
    return "; ".join(f"{reason} x{count}" for reason, count in reasons.most_common())


# ---------------------------------------------------------------------------------------------
# Exports

DEVICE_COLUMNS: tuple[Column, ...] = (
    Column("customer", "Customer", width=24),
    Column("site", "Site", width=18),
    Column("name", "Name", width=22),
    Column("model", "Model", width=14),
    Column("serial", "Serial number", width=16),
    Column("transfers", "Transfers to battery", "number", 11),
    Column("minutes", "Minutes on battery", "number", 11),
    Column("longest", "Longest outage (min)", "number", 11),
    Column("reasons", "Transfer reasons", width=40),
    Column("period_start", "Period start", "date", 12),
    Column("period_end", "Period end", "date", 12),
)

SITE_COLUMNS: tuple[Column, ...] = (
    Column("customer", "Customer", width=24),
    Column("site", "Site", width=18),
    Column("devices", "Devices", "number", 9),
    Column("devices_with_outages", "Devices on battery", "number", 11),
    Column("transfers", "Transfers to battery", "number", 11),
    Column("minutes", "Minutes on battery", "number", 11),
    Column("longest", "Longest outage (min)", "number", 11),
    Column("reasons", "Transfer reasons", width=40),
    Column("period_start", "Period start", "date", 12),
    Column("period_end", "Period end", "date", 12),
)


def device_export_rows(report: OutageReport) -> Iterator[dict[str, Any]]:
    for d in report.devices:
        yield {
            "customer": d.customer,
            "site": d.site,
            "name": d.name,
            "model": d.model,
            "serial": d.serial,
            "transfers": d.transfers,
            "minutes": d.minutes_on_battery,
            "longest": d.longest_minutes,
            "reasons": reasons_text(d.reasons),
            "period_start": report.period.start,
            "period_end": report.period.end,
        }


def site_export_rows(report: OutageReport) -> Iterator[dict[str, Any]]:
    for s in report.sites:
        yield {
            "customer": s.customer,
            "site": s.site,
            "devices": s.devices,
            "devices_with_outages": s.devices_with_outages,
            "transfers": s.transfers,
            "minutes": s.minutes_on_battery,
            "longest": s.longest_minutes,
            "reasons": reasons_text(s.reasons),
            "period_start": report.period.start,
            "period_end": report.period.end,
        }


def write_xlsx(path: str, report: OutageReport) -> None:
    """Two sheets, "By site" then "By device", in constant memory."""
    write_workbook(
        path,
        [
            ("By site", SITE_COLUMNS, site_export_rows(report)),
            ("By device", DEVICE_COLUMNS, device_export_rows(report)),
        ],
    )
