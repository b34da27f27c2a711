"""What the pages show about batteries: a device's health with its evidence, and the fleet's list (reads only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import BatteryDischarge, Company, Device, DeviceStatus, User
from portal.services.battery import replacements
from portal.services.battery.chart import HealthChart, health_chart
from portal.services.battery.discharges import (
    health_points,
    replace_below,
    since_replacement,
)
from portal.services.battery.estimate import Estimate, estimate
from portal.services.fleet.battery_estimates import current_battery
from portal.services.fleet.device_dates import age_replace_by
from portal.services.reports.my_reports import scoped_devices

EVIDENCE_ROWS = 20


@dataclass(frozen=True)
class DeviceBattery:
    estimate: Estimate
    limit: float  # the model's replace limit, relative to new
    evidence: list[BatteryDischarge]  # newest first
    discharges: int
    age_replace_by: date | None  # install date plus design life (or the UPS's own date)
    chart: HealthChart | None
    low: bool  # below the health alert limit
    replaced_on: date | None  # the newest logbook entry: discharges before it are the old battery's
    replacements: list  # the logbook, newest first


def device_battery(device: Device, variables: dict | None, *, alert_below: float) -> DeviceBattery:
    """The device's battery health from every recorded discharge, with the newest as evidence."""
    rows = list(
        db.session.scalars(
            select(BatteryDischarge).where(BatteryDischarge.device_id == device.id).order_by(BatteryDischarge.started_at)
        )
    )
    limit = replace_below(device.model)
    logbook = replacements.replacements(device.id)
    replaced_on = logbook[0].replaced_on if logbook else None
    points = health_points(since_replacement(rows, replaced_on))
    result = estimate(points, replace_below=limit)
    return DeviceBattery(
        estimate=result,
        limit=limit,
        evidence=list(reversed(rows))[:EVIDENCE_ROWS],
        discharges=len(rows),
        age_replace_by=age_replace_by(device.model, device.battery_installed_on, variables),
        chart=health_chart(points, limit=limit, trend_now=result.trend_now, replace_by=result.replace_by),
        low=result.health is not None and result.health < alert_below,
        replaced_on=replaced_on,
        replacements=logbook,
    )


@dataclass(frozen=True)
class FleetRow:
    device_id: int
    customer: str
    name: str
    site: str
    model: str
    serial: str
    health: float | None
    predicted_replace_by: date | None
    age_replace_by: date | None
    discharges: int
    last_discharge: date | None
    low: bool  # below the health alert limit

    @property
    def health_percent(self) -> int | None:
        return None if self.health is None else round(self.health * 100)


def latest_estimates(device_ids) -> dict[int, tuple[float | None, date | None, int, date | None]]:
    """device id -> (health, predicted replace-by, discharges recorded, date of the last) as the pass stored them."""
    counts = (
        select(
            BatteryDischarge.device_id,
            func.count(BatteryDischarge.id).label("n"),
            func.max(BatteryDischarge.started_at).label("last"),
        )
        .where(BatteryDischarge.device_id.in_(device_ids), current_battery(BatteryDischarge.device_id))
        .group_by(BatteryDischarge.device_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            BatteryDischarge.device_id,
            BatteryDischarge.estimate_health,
            BatteryDischarge.estimate_replace_by,
            counts.c.n,
            counts.c.last,
        ).join(
            counts,
            (counts.c.device_id == BatteryDischarge.device_id) & (counts.c.last == BatteryDischarge.started_at),
        )
    )
    return {r[0]: (r[1], r[2], r[3], r[4].date() if r[4] else None) for r in rows}


def fleet_battery(user: User, *, alert_below: float, customer_id: int | None = None) -> list[FleetRow]:
    """Every device the user's reports cover, weakest measured battery first, then those without data."""
    scope = scoped_devices(user, customer_id)
    devices = db.session.execute(
        scope.with_only_columns(
            Device.id, Device.name, Device.site, Device.model, Device.serial, Device.battery_installed_on,
            Company.name, DeviceStatus.variables,
        )
        .join(Company, Company.id == Device.owner_company_id)
        .outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
    ).all()
    found = latest_estimates([d[0] for d in devices]) if devices else {}
    rows = []
    for device_id, name, site, model, serial, installed, customer, variables in devices:
        health, predicted, count, last = found.get(device_id, (None, None, 0, None))
        rows.append(
            FleetRow(
                device_id, customer, name, site, model, serial, health, predicted,
                age_replace_by(model, installed, variables), count, last,
                health is not None and health < alert_below,
            )
        )
    return sorted(rows, key=lambda r: (r.health is None, r.health or 0.0, r.customer, r.serial))
