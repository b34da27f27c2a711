"""A device's history for the device page: chart series and the 30-day event log."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Device, DeviceEvent, DeviceStatus, TelemetryRollup, TelemetrySample

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_RANGE = "24h"
# Ranges up to this long are drawn from every sample; longer ones from buckets.
FULL_RESOLUTION_UP_TO = timedelta(hours=24)
SERIES = ("load_percent", "charge_percent", "input_voltage_v", "temperature_c")
UNITS = {"load_percent": "%", "charge_percent": "%", "input_voltage_v": "V", "temperature_c": "°C"}
EVENT_LOG_DAYS = 30
SEVERITIES = ("critical", "warning", "informational")


def _unix(ts: datetime) -> int:
    return int(ts.replace(tzinfo=UTC).timestamp())


def window_end(device: Device, fallback: datetime) -> datetime:
    """Charts end at the device's latest telemetry (its own clock may run ahead in the lab)."""
    status = db.session.get(DeviceStatus, device.id)
    if status is not None and status.last_telemetry_at is not None:
        return status.last_telemetry_at
    latest = db.session.scalar(
        select(func.max(TelemetrySample.ts)).where(TelemetrySample.device_id == device.id)
    )
    if latest is not None:
        return latest
    latest = db.session.scalar(
        select(func.max(TelemetryRollup.bucket_start)).where(TelemetryRollup.device_id == device.id)
    )
    return latest or fallback


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def history(device: Device, range_key: str, *, fallback_end: datetime, bucket_seconds: int = 900) -> dict:
    """uPlot-ready columns (unix seconds, then one array per series) for one range.

    Short ranges use every full-resolution sample. Longer ranges average samples into buckets of
    ``bucket_seconds`` and, before the oldest sample kept, use the stored rollups of the same size.
    """
    span = RANGES.get(range_key) or RANGES[DEFAULT_RANGE]
    range_key = range_key if range_key in RANGES else DEFAULT_RANGE
    end = window_end(device, fallback_end)
    start = end - span
    columns = [getattr(TelemetrySample, name) for name in SERIES]
    samples = db.session.execute(
        select(TelemetrySample.ts, *columns)
        .where(TelemetrySample.device_id == device.id, TelemetrySample.ts >= start, TelemetrySample.ts <= end)
        .order_by(TelemetrySample.ts)
    ).all()
    first_sample = samples[0].ts if samples else end + timedelta(seconds=1)
    rollups = db.session.execute(
        select(TelemetryRollup.bucket_start, *[getattr(TelemetryRollup, name) for name in SERIES])
        .where(
            TelemetryRollup.device_id == device.id,
            TelemetryRollup.bucket_start >= start - timedelta(seconds=bucket_seconds),
            TelemetryRollup.bucket_start < first_sample,
        )
        .order_by(TelemetryRollup.bucket_start)
    ).all()
    points: list[tuple[int, tuple]] = [
        (_unix(r[0]), tuple(r[1:])) for r in rollups if r[0] + timedelta(seconds=bucket_seconds) > start
    ]
    if span <= FULL_RESOLUTION_UP_TO:
        resolution = "samples" if not rollups else "mixed"
        points += [(_unix(s[0]), tuple(s[1:])) for s in samples]
    else:
        resolution = "buckets"
        buckets: dict[int, list[tuple]] = defaultdict(list)
        for s in samples:
            t = _unix(s[0])
            buckets[t - t % bucket_seconds].append(tuple(s[1:]))
        for t in sorted(buckets):
            rows = buckets[t]
            means = []
            for i in range(len(SERIES)):
                values = [row[i] for row in rows if row[i] is not None]
                means.append(sum(values) / len(values) if values else None)
            points.append((t, tuple(means)))
    points.sort(key=lambda p: p[0])
    data = {
        "range": range_key,
        "start": _unix(start),
        "end": _unix(end),
        "resolution": resolution,
        "bucket_seconds": bucket_seconds if resolution != "samples" else None,
        "units": UNITS,
        "x": [p[0] for p in points],
    }
    for i, name in enumerate(SERIES):
        data[name] = [_round(p[1][i]) for p in points]
    return data


@dataclass(frozen=True)
class EventLog:
    events: list[DeviceEvent]
    severity: str  # "" for all
    since: datetime
    counts: dict[str, int]


def event_log(device: Device, *, severity: str = "", fallback_end: datetime, limit: int = 200) -> EventLog:
    """The last 30 days of events back from the latest event (or the clock), newest first."""
    latest = db.session.scalar(select(func.max(DeviceEvent.ts)).where(DeviceEvent.device_id == device.id))
    end = max(latest, fallback_end) if latest is not None else fallback_end
    since = end - timedelta(days=EVENT_LOG_DAYS)
    base = [DeviceEvent.device_id == device.id, DeviceEvent.ts >= since]
    counts = dict(
        db.session.execute(
            select(DeviceEvent.severity, func.count(DeviceEvent.id))
            .where(*base)
            .group_by(DeviceEvent.severity)
        ).all()
    )
    severity = severity if severity in SEVERITIES else ""
    query = select(DeviceEvent).where(*base)
    if severity:
        query = query.where(DeviceEvent.severity == severity)
    events = list(
        db.session.scalars(query.order_by(DeviceEvent.ts.desc(), DeviceEvent.seq.desc()).limit(limit))
    )
    return EventLog(events, severity, since, counts)
