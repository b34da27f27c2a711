"""Reads the transfers to battery that transfers.py aggregates: from the device event log (APC 0x0109 "On battery
power in response to ..." paired with the next 0x010A, and self-tests 0x0137 paired with their result), the
reason from the event's wording, an "input power problem" classified by the input the UPS measured in the
first telemetry sample on battery (blackout, low or high voltage, frequency). Reads only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Company, Device, DeviceEvent, DeviceStatus, TelemetrySample, User
from portal.services.battery import transfers as t
from portal.services.reports.my_reports import scoped_devices
from portal.services.reports.outages import NO_SITE, OFF_BATTERY, ON_BATTERY

SELF_TEST_STARTED = "0x0137"
SELF_TEST_MAX = timedelta(minutes=2)  # a self-test with no result on record is counted this long at most
LOOKBACK = timedelta(days=2)  # a transfer already running at the period's start is found
BLACKOUT_BELOW = 0.25  # of nominal input voltage
FREQUENCY_BAND_HZ = 3.0


def reason_from_text(text: str) -> str:
    lowered = (text or "").lower()
    if "rapid change" in lowered:
        return t.RATE_OF_CHANGE
    if "distorted" in lowered:
        return t.DISTORTION
    return t.INPUT_PROBLEM


def classify_input(voltage_v: float | None, frequency_hz: float | None, nominal_v: float) -> str:
    """The kind of input power problem from what the UPS measured on battery."""
    if voltage_v is None:
        return t.INPUT_PROBLEM
    if voltage_v < BLACKOUT_BELOW * nominal_v:
        return t.BLACKOUT
    if frequency_hz is not None and min(abs(frequency_hz - 50), abs(frequency_hz - 60)) > FREQUENCY_BAND_HZ:
        return t.FREQUENCY
    return t.LOW_VOLTAGE if voltage_v < nominal_v else t.HIGH_VOLTAGE


def device_transfers(device_ids: list[int], *, start: datetime, end: datetime) -> dict[int, list[t.Transfer]]:
    """device id -> its transfers that touch [start, end), oldest first."""
    found: dict[int, list[t.Transfer]] = defaultdict(list)
    if not device_ids:
        return found
    nominal = {
        device_id: _number((variables or {}).get("input.voltage.nominal")) or 230.0
        for device_id, variables in db.session.execute(
            select(DeviceStatus.device_id, DeviceStatus.variables).where(DeviceStatus.device_id.in_(device_ids))
        )
    }
    events = db.session.execute(
        select(DeviceEvent.device_id, DeviceEvent.ts, DeviceEvent.code, DeviceEvent.text)
        .where(
            DeviceEvent.device_id.in_(device_ids),
            DeviceEvent.ts >= start - LOOKBACK,
            DeviceEvent.ts < end,
        )
        .order_by(DeviceEvent.device_id, DeviceEvent.ts, DeviceEvent.seq)
    )
    open_at: dict[int, tuple[datetime, str, str]] = {}  # device -> (start, reason, "battery" | "test")
    for device_id, ts, code, text in events:
        opened = open_at.get(device_id)
        lowered = (text or "").lower()
        if code == ON_BATTERY and (opened is None or opened[2] == "test"):
            open_at[device_id] = (ts, reason_from_text(text), "battery")
        elif code == SELF_TEST_STARTED and opened is None:
            open_at[device_id] = (ts, t.SELF_TEST, "test")
        elif opened and opened[2] == "battery" and code == OFF_BATTERY:
            found[device_id].append(t.Transfer(opened[0], ts, opened[1]))
            del open_at[device_id]
        elif opened and opened[2] == "test" and "self-test" in lowered and ("passed" in lowered or "failed" in lowered):
            found[device_id].append(t.Transfer(opened[0], ts, t.SELF_TEST))
            del open_at[device_id]
    for device_id, (began, reason, kind) in open_at.items():
        finish = min(began + SELF_TEST_MAX, end) if kind == "test" else end
        found[device_id].append(t.Transfer(began, finish, reason))
    for device_id, rows in found.items():
        rows.sort(key=lambda r: r.start)
        for index, row in enumerate(rows):
            if row.reason == t.INPUT_PROBLEM:
                rows[index] = t.Transfer(row.start, row.end, _classified(device_id, row, nominal.get(device_id, 230.0)))
    return found


def _classified(device_id: int, row: t.Transfer, nominal_v: float) -> str:
    sample = db.session.execute(
        select(TelemetrySample.input_voltage_v, TelemetrySample.input_frequency_hz)
        .where(
            TelemetrySample.device_id == device_id,
            TelemetrySample.ts >= row.start,
            TelemetrySample.ts <= row.end,
            TelemetrySample.ups_status.contains("OB"),
        )
        .order_by(TelemetrySample.ts)
        .limit(1)
    ).first()
    return classify_input(sample[0], sample[1], nominal_v) if sample else t.INPUT_PROBLEM


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def device_summary(device: Device, *, start: datetime, end: datetime) -> t.TransferSummary:
    rows = device_transfers([device.id], start=start, end=end).get(device.id, [])
    return t.summarize(rows, start=start, end=end)


@dataclass
class SiteTransfers:
    customer: str
    site: str
    devices: int
    summary: t.TransferSummary


def site_summaries(
    user: User, *, start: datetime, end: datetime, customer_id: int | None = None
) -> list[SiteTransfers]:
    """Per site of the devices the user's reports cover (a partner: the devices shared with it), most
    transfers first."""
    scope = scoped_devices(user, customer_id)
    devices = db.session.execute(
        scope.with_only_columns(Device.id, Device.site, Company.name).join(
            Company, Company.id == Device.owner_company_id
        )
    ).all()
    found = device_transfers([d[0] for d in devices], start=start, end=end)
    sites: dict[tuple[str, str], SiteTransfers] = {}
    for device_id, site, customer in devices:
        key = (customer, site or NO_SITE)
        entry = sites.setdefault(key, SiteTransfers(key[0], key[1], 0, t.TransferSummary()))
        entry.devices += 1
        entry.summary.add(t.summarize(found.get(device_id, []), start=start, end=end))
    return sorted(sites.values(), key=lambda s: (-s.summary.transfers, -s.summary.seconds_on_battery, s.customer, s.site))
