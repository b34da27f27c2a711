"""The battery pass: finds finished runs on battery in stored telemetry and records each as a discharge.

Run by ``flask battery`` (a scheduled job, before ``flask maintenance`` folds full-resolution telemetry
into rollups). Reads only what ingest stored; safe to run any number of times: a device's discharges
are read from its last recorded one onwards and each (device, start) is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, or_, select

from catalog.ups_models import ModelSpec, model_spec
from portal.extensions import db
from portal.models import BatteryDischarge, Device, TelemetrySample
from portal.services.battery.capacity import measure
from portal.services.battery.episodes import Sample, find_episodes
from portal.services.battery.estimate import HealthPoint, estimate
from portal.services.battery.health_alerts import check_health
from portal.services.fleet.battery_estimates import current_battery

DEFAULT_REPLACE_BELOW = 0.6  # a model missing from the catalogue: the catalogue's default limit


@dataclass(frozen=True)
class PassResult:
    devices: int = 0
    discharges: int = 0
    alerts: int = 0


def spec_for(model: str) -> ModelSpec | None:
    try:
        return model_spec(model)
    except ValueError:
        return None


def replace_below(model: str) -> float:
    spec = spec_for(model)
    return spec.replace_below_capacity if spec else DEFAULT_REPLACE_BELOW


def health_points(discharges: list[BatteryDischarge]) -> list[HealthPoint]:
    """The measured discharges as estimator input, oldest first."""
    points = []
    for d in sorted(discharges, key=lambda d: d.started_at):
        if d.health is None:
            continue
        error = None
        if d.predicted_runtime_s and d.measured_runtime_s:
            error = d.predicted_runtime_s / d.measured_runtime_s - 1.0
        weight = max(d.start_charge_percent - d.end_charge_percent, 0.0)
        points.append(HealthPoint(d.started_at.date(), d.health, weight, error))
    return points


def _on_battery_status():
    return or_(TelemetrySample.ups_status.like("OB%"), TelemetrySample.ups_status.like("% OB%"))


def _devices_with_new_runs() -> list[tuple[int, datetime | None]]:
    """(device id, end of its last recorded discharge) for devices with samples on battery after it."""
    last_end = (
        select(BatteryDischarge.device_id, func.max(BatteryDischarge.ended_at).label("last"))
        .group_by(BatteryDischarge.device_id)
        .subquery()
    )
    rows = db.session.execute(
        select(TelemetrySample.device_id, last_end.c.last)
        .outerjoin(last_end, last_end.c.device_id == TelemetrySample.device_id)
        .where(_on_battery_status(), or_(last_end.c.last.is_(None), TelemetrySample.ts > last_end.c.last))
        .distinct()
    )
    return [(device_id, last) for device_id, last in rows]


def _samples(device_id: int, since: datetime | None) -> list[Sample]:
    query = select(
        TelemetrySample.ts,
        TelemetrySample.ups_status,
        TelemetrySample.load_percent,
        TelemetrySample.charge_percent,
        TelemetrySample.runtime_s,
        TelemetrySample.temperature_c,
    ).where(TelemetrySample.device_id == device_id)
    if since is not None:
        query = query.where(TelemetrySample.ts >= since)
    return [Sample(*row) for row in db.session.execute(query.order_by(TelemetrySample.ts, TelemetrySample.seq))]


def record_device(device: Device, since: datetime | None) -> list[BatteryDischarge]:
    """Store the device's finished episodes after ``since``, each with the estimate it leads to."""
    spec = spec_for(device.model)
    episodes, _running = find_episodes(_samples(device.id, since))
    new = [e for e in episodes if since is None or e.started_at > since]
    if not new:
        return []
    history = list(
        db.session.scalars(
            select(BatteryDischarge).where(BatteryDischarge.device_id == device.id, current_battery(device.id))
        )
    )
    limit = replace_below(device.model)
    stored = []
    for episode in new:
        row = BatteryDischarge(
            device_id=device.id,
            kind=episode.kind,
            started_at=episode.started_at,
            ended_at=episode.ended_at,
            ended_by=episode.ended_by,
            samples=len(episode.on_battery),
        )
        if spec is not None:
            m = measure(episode, spec)
            row.duration_s, row.load_percent, row.energy_wh = m.duration_s, m.load_percent, m.energy_wh
            row.start_charge_percent, row.end_charge_percent = m.start_charge_percent, m.end_charge_percent
            row.temperature_c, row.predicted_runtime_s = m.temperature_c, m.predicted_runtime_s
            row.measured_runtime_s, row.health = m.measured_runtime_s, m.health
        else:  # unknown model: the episode is kept as evidence, without a capacity figure
            first, last = episode.on_battery[0], episode.on_battery[-1]
            row.duration_s = (episode.ended_at - episode.started_at).total_seconds()
            row.load_percent, row.energy_wh = first.load_percent or 0.0, 0.0
            row.start_charge_percent = first.charge_percent or 0.0
            row.end_charge_percent = last.charge_percent or row.start_charge_percent
            row.temperature_c, row.predicted_runtime_s = first.temperature_c, first.runtime_s
        history.append(row)
        result = estimate(health_points(history), replace_below=limit)
        row.estimate_health, row.estimate_replace_by = result.health, result.replace_by
        db.session.add(row)
        stored.append(row)
    db.session.flush()
    return stored


def record_discharges(*, now: datetime, today: date, alert_below: float) -> PassResult:
    """Record every device's new discharges; alert where the health estimate fell below ``alert_below``."""
    devices = discharges = alerts = 0
    for device_id, since in _devices_with_new_runs():
        device = db.session.get(Device, device_id)
        if device is None:
            continue
        stored = record_device(device, since)
        if not stored:
            continue
        devices += 1
        discharges += len(stored)
        latest = stored[-1]
        if latest.estimate_health is not None and device.owner_company_id is not None:
            alerts += check_health(device, latest.estimate_health, alert_below, ts=latest.ended_at, now=now, today=today)
    return PassResult(devices, discharges, alerts)


def since_replacement(rows: list[BatteryDischarge], replaced_on: date | None) -> list[BatteryDischarge]:
    """The rows of the battery in place now (the Python twin of ``current_battery``)."""
    if replaced_on is None:
        return rows
    start = datetime.combine(replaced_on, time.min)
    return [r for r in rows if r.started_at >= start]

