"""What devices report, written to the database: hellos, states, telemetry, events, command results.

Plain functions over the models, no MQTT, no clock and no alerts: each returns what changed (new
event ids, a state change, the newest variables per device) and the caller decides what follows (the
ingest worker hands it to alerts). None of them commits: the caller (the ingest worker, a test) owns
the transaction, so one flush of the worker is one transaction. Inserts of telemetry and
events use ``INSERT ... ON CONFLICT DO NOTHING`` (events on (device_id, seq); telemetry names no
conflict target, so it holds whichever unique key its table has), so a redelivered message is stored
once on SQLite and PostgreSQL alike. On PostgreSQL a telemetry batch is written by ``telemetry_pg``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceEvent, DeviceStatus, TelemetryRollup, TelemetrySample
from portal.services.fleet import telemetry_pg
from portal.services.fleet.stored_facts import STATUS_FACT_COLUMNS, status_facts
from portal.services.licensing import entitlements
from portal.services.licensing.plans import Feature, plan_allows

# NUT variable -> TelemetrySample column; everything else stays in DeviceStatus.variables only.
SAMPLE_COLUMNS = {
    "ups.load": "load_percent",
    "battery.charge": "charge_percent",
    "battery.runtime": "runtime_s",
    "input.voltage": "input_voltage_v",
    "output.voltage": "output_voltage_v",
    "input.frequency": "input_frequency_hz",
    "ups.temperature": "temperature_c",
}
ROLLUP_AVERAGES = (
    "load_percent",
    "charge_percent",
    "runtime_s",
    "input_voltage_v",
    "output_voltage_v",
    "temperature_c",
)
TERMINAL_COMMAND_STATUSES = frozenset({"done", "failed", "timed_out"})
PLAN_CACHE_S = 60.0


@dataclass(frozen=True)
class TelemetryRow:
    """One valid telemetry message, ready to store."""

    serial: str
    seq: int
    ts: float  # the device's unix time in seconds
    variables: dict[str, Any]


@dataclass(frozen=True)
class EventRow:
    """One valid event message, ready to store."""

    serial: str
    seq: int
    ts: float
    code: str
    severity: str
    text: str


@dataclass(frozen=True)
class BatchResult:
    """What a stored batch changed."""

    stored: int = 0
    duplicates: int = 0
    skipped: int = 0  # events of devices whose plan records none
    new_event_ids: tuple[int, ...] = ()  # events stored for the first time
    # device id -> its newest variables in the batch, when the batch stored any new sample
    latest_variables: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class StateChange:
    """A device's connection went online or was lost."""

    device_id: int
    online: bool


def from_unix(ts: float) -> datetime:
    """Naive UTC, as every timestamp column stores it."""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def _insert(table: Any) -> Any:
    """The dialect's own INSERT, which knows ON CONFLICT."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# ---------------------------------------------------------------- serial -> device id


@dataclass
class DeviceIds:
    """Serial -> device id, cached for the life of a worker (a device row is never deleted).

    A serial never seen before gets an unclaimed placeholder row, so telemetry that overtakes its
    hello is kept; the hello fills in the model and firmware.
    """

    ids: dict[str, int] = field(default_factory=dict)

    def resolve(self, serials: Iterable[str], now: datetime) -> dict[str, int]:
        wanted = set(serials)
        missing = wanted - self.ids.keys()
        if missing:
            rows = db.session.execute(select(Device.serial, Device.id).where(Device.serial.in_(missing)))
            self.ids.update({serial: device_id for serial, device_id in rows})
            for serial in sorted(missing - self.ids.keys()):
                device = Device(serial=serial, model="", first_seen_at=now)
                db.session.add(device)
                db.session.flush()
                self.ids[serial] = device.id
        return {serial: self.ids[serial] for serial in wanted}

    def clear(self) -> None:
        """Forget everything, e.g. after a rollback that may have undone placeholder rows."""
        self.ids.clear()


# ---------------------------------------------------------------- hello and state


@dataclass(frozen=True)
class StateRow:
    """One device's online / lost message from its retained state topic."""

    serial: str
    online: bool
    live: bool = True  # False for a retained copy replayed on subscribe: says nothing of when it was heard


def record_hellos(hellos: Sequence[tuple[str, dict[str, Any]]], now: datetime) -> dict[str, Device]:
    """Create each device unclaimed on its first hello; keep model, firmware, battery and outlets current.

    One query for the devices of the whole batch and one flush: a fleet reconnecting after a broker
    restart sends a hello per device at once. Later hellos of a serial in the batch win.
    """
    if not hellos:
        return {}
    serials = {serial for serial, _ in hellos}
    devices = {device.serial: device for device in db.session.scalars(select(Device).where(Device.serial.in_(serials)))}
    for serial, payload in hellos:
        device = devices.get(serial)
        if device is None:
            device = devices[serial] = Device(serial=serial, model=payload["model"], first_seen_at=now, owner_company_id=None)
            db.session.add(device)
        device.model = payload["model"]
        device.firmware = payload["firmware"]
        device.battery_type = payload["battery_type"]
        device.outlet_groups = list(payload["outlet_groups"])
    db.session.flush()
    return devices


def record_hello(serial: str, payload: dict[str, Any], now: datetime) -> Device:
    """`record_hellos` for one message."""
    return record_hellos([(serial, payload)], now)[serial]


def record_states(rows: Sequence[StateRow], now: datetime, *, ids: DeviceIds | None = None) -> list[StateChange]:
    """Online / lost from the retained state topic, in arrival order; the changes, in that order.

    One query for the status rows of the whole batch and one flush (a reconnecting fleet sends one per
    device at once); several messages of one device in the batch apply one after the other.
    """
    if not rows:
        return []
    device_ids = (ids or DeviceIds()).resolve({row.serial for row in rows}, now)
    wanted = set(device_ids.values())
    statuses = {
        status.device_id: status
        for status in db.session.scalars(select(DeviceStatus).where(DeviceStatus.device_id.in_(wanted)))
    }
    changes = []
    for row in rows:
        device_id = device_ids[row.serial]
        status = statuses.get(device_id)
        if status is None:
            status = statuses[device_id] = DeviceStatus(
                device_id=device_id, online=False, last_seq=-1, ups_status="", variables={}
            )
            db.session.add(status)
        changed = status.online != row.online
        if changed or status.state_changed_at is None:
            status.online = row.online
            status.state_changed_at = now
        if row.online and row.live:
            status.last_seen_at = now
        if changed:
            changes.append(StateChange(device_id, row.online))
    db.session.flush()
    return changes


def record_state(
    serial: str, online: bool, now: datetime, *, ids: DeviceIds | None = None, live: bool = True
) -> StateChange | None:
    """`record_states` for one message: the change, or None when the state stayed as it was."""
    changes = record_states([StateRow(serial, online, live)], now, ids=ids)
    return changes[0] if changes else None


# ---------------------------------------------------------------- telemetry


def _ups_status(row: TelemetryRow) -> str:
    """ups.status as stored: at most 80 characters, without NUL (which PostgreSQL's text cannot hold)."""
    return str(row.variables.get("ups.status") or "").replace("\x00", "")[:80]


def _readings(row: TelemetryRow) -> list[float | None]:
    """The SAMPLE_COLUMNS values of a sample, in that order: numbers only, anything else None."""
    return [
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        for value in map(row.variables.get, SAMPLE_COLUMNS)
    ]


def _sample_values(row: TelemetryRow) -> dict[str, Any]:
    values: dict[str, Any] = {"seq": row.seq, "ts": from_unix(row.ts), "ups_status": _ups_status(row)}
    values.update(zip(SAMPLE_COLUMNS.values(), _readings(row), strict=True))
    return values


def store_telemetry_batch(
    rows: Sequence[TelemetryRow], *, now: datetime, ids: DeviceIds | None = None
) -> BatchResult:
    """Insert samples once per (device, seq) and move each device's latest row to its newest sample.

    "Newest" is by the device's timestamp (the contract bounds it near arrival), then by seq: a device
    that rebooted and restarted its sequence, or sent one absurd seq (2**63 - 1), is never frozen at the
    sample with the highest number. A sample whose seq collides after such a reset is counted as a
    duplicate, but still moves the latest row when it is newer. Every device of the batch has its
    ``last_seen_at`` set to ``now``, even when all it sent was an old sample redelivered.

    ``latest_variables`` is filled when the batch stored a new sample: thresholds are checked on it.

    On PostgreSQL (psycopg 3) the batch is two statements whatever its size (``telemetry_pg``); on
    SQLite, an executemany of the insert and of the upsert, then one UPDATE of ``last_seen_at``.
    """
    if not rows:
        return BatchResult()
    device_ids = (ids or DeviceIds()).resolve({row.serial for row in rows}, now)
    unique: dict[tuple[int, int], TelemetryRow] = {}
    for row in rows:
        unique.setdefault((device_ids[row.serial], row.seq), row)
    newest: dict[int, TelemetryRow] = {}
    for (device_id, _), row in unique.items():
        if device_id not in newest or (row.ts, row.seq) > (newest[device_id].ts, newest[device_id].seq):
            newest[device_id] = row

    dialect = db.session.get_bind().dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":  # telemetry_pg speaks psycopg 3
        inserted = _store_on_postgresql(unique, newest, now)
    else:
        values = [{"device_id": device_id, **_sample_values(row)} for (device_id, _), row in unique.items()]
        # RETURNING lists only the rows really inserted: the rest were already stored. No conflict
        # target: whichever unique key the table has.
        stmt = _insert(TelemetrySample).on_conflict_do_nothing().returning(TelemetrySample.id)
        inserted = len(db.session.execute(stmt, values).all())
        _upsert_latest(newest, now)
    # Status rows the session holds (a state message of this batch) were written behind its back.
    for held in list(db.session.identity_map.values()):
        if isinstance(held, DeviceStatus) and held.device_id in newest:
            db.session.expire(held)
    latest = {device_id: row.variables for device_id, row in newest.items()} if inserted else {}
    return BatchResult(stored=inserted, duplicates=len(rows) - inserted, latest_variables=latest)


def _store_on_postgresql(
    unique: dict[tuple[int, int], TelemetryRow], newest: dict[int, TelemetryRow], now: datetime
) -> int:
    """The batch in two statements (telemetry_pg); how many samples were new."""
    db.session.flush()  # the driver's cursor bypasses the session: the rows it holds must be written first
    inserted = telemetry_pg.insert_samples(
        db.session,
        [
            (device_id, row.seq, from_unix(row.ts), _ups_status(row), *_readings(row))
            for (device_id, _), row in unique.items()
        ],
    )
    latest = []
    for device_id, row in newest.items():
        status = _ups_status(row)
        facts = status_facts(status, row.variables)
        reported = (device_id, from_unix(row.ts), row.seq, status, row.variables)
        latest.append((*reported, *(facts[column] for column in STATUS_FACT_COLUMNS)))
    telemetry_pg.upsert_latest(db.session, latest, now)
    return inserted


def _upsert_latest(newest: dict[int, TelemetryRow], now: datetime) -> None:
    table = DeviceStatus.__table__
    values = [
        {
            "device_id": device_id,
            "online": True,
            "last_seen_at": now,
            "last_telemetry_at": from_unix(row.ts),
            "last_seq": row.seq,
            "ups_status": (ups_status := _ups_status(row)),
            "variables": row.variables,
            **status_facts(ups_status, row.variables),
        }
        for device_id, row in newest.items()
    ]
    stmt = _insert(table)
    # A late redelivery of an older sample must not move the latest row backwards: newer by timestamp,
    # then by seq (a seq reset or an absurd seq must not freeze the row).
    newer = or_(
        table.c.last_telemetry_at.is_(None),
        stmt.excluded.last_telemetry_at > table.c.last_telemetry_at,
        and_(stmt.excluded.last_telemetry_at == table.c.last_telemetry_at, stmt.excluded.last_seq > table.c.last_seq),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["device_id"],
        set_={
            name: stmt.excluded[name]
            for name in ("last_telemetry_at", "last_seq", "ups_status", "variables", *STATUS_FACT_COLUMNS)
        },
        where=newer,
    )
    db.session.execute(stmt, values)
    _touch(newest.keys(), now)


def _touch(device_ids: Iterable[int], now: datetime) -> None:
    """Whatever a device sends shows it is alive, even an old sample redelivered.

    Telemetry also puts a device marked lost back online: its ``online`` state message can be lost
    (any broker may lose one; an unpatched amqtt 0.12 did under a reconnecting fleet), and a device that
    reports must not stay Offline for ever. A stray sample after the will is caught by the silence rule.
    """
    db.session.execute(
        update(DeviceStatus)
        .where(DeviceStatus.device_id.in_(list(device_ids)))
        .values(
            last_seen_at=now,
            online=True,
            state_changed_at=case((DeviceStatus.online.is_(True), DeviceStatus.state_changed_at), else_=now),
        )
    )


# ---------------------------------------------------------------- events


class PlanCache:
    """Whether each device's plan records events, looked up once per device and kept briefly."""

    def __init__(self, ttl_s: float = PLAN_CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[int, date], tuple[float, bool]] = {}

    def records_events(self, device_id: int, today: date) -> bool:
        key = (device_id, today)
        hit = self._entries.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        device = db.session.get(Device, device_id)
        allowed = device is not None and plan_allows(entitlements.current_plan(device, today), Feature.EVENT_LOG)
        self._entries[key] = (time.monotonic(), allowed)
        return allowed


def store_events(
    rows: Sequence[EventRow],
    today: date,
    *,
    now: datetime,
    ids: DeviceIds | None = None,
    plans: PlanCache | None = None,
) -> BatchResult:
    """Add events to each device's log once per (device, seq); a device on Basic records none.

    ``new_event_ids`` lists the events stored for the first time: the ones that may alert.
    """
    if not rows:
        return BatchResult()
    plans = plans or PlanCache()
    device_ids = (ids or DeviceIds()).resolve({row.serial for row in rows}, now)
    allowed = {device_id: plans.records_events(device_id, today) for device_id in set(device_ids.values())}
    unique: dict[tuple[int, int], EventRow] = {}
    skipped = 0
    for row in rows:
        device_id = device_ids[row.serial]
        if not allowed[device_id]:
            skipped += 1
            continue
        unique.setdefault((device_id, row.seq), row)
    new_ids: list[int] = []
    if unique:
        values = [
            {
                "device_id": device_id,
                "seq": row.seq,
                "ts": from_unix(row.ts),
                "code": row.code,
                "severity": row.severity,
                "text": row.text,
            }
            for (device_id, _), row in unique.items()
        ]
        stmt = (
            _insert(DeviceEvent)
            .on_conflict_do_nothing(index_elements=["device_id", "seq"])
            .returning(DeviceEvent.id)
        )
        new_ids = [event_id for (event_id,) in db.session.execute(stmt, values).all()]
    _touch(set(device_ids.values()), now)
    return BatchResult(
        stored=len(new_ids),
        duplicates=len(rows) - skipped - len(new_ids),
        skipped=skipped,
        new_event_ids=tuple(new_ids),
    )


def purge_events(older_than: datetime) -> int:
    """Delete event log entries older than ``older_than``; returns how many."""
    return db.session.execute(delete(DeviceEvent).where(DeviceEvent.ts < older_than)).rowcount or 0


# ---------------------------------------------------------------- command results


def record_command_result(payload: dict[str, Any], now: datetime, *, serial: str | None = None) -> bool:
    """Move a command along (accepted, progress, done, failed); False for an id the portal never sent.

    With ``serial``, a result for another device's command counts as unknown: a device may only
    report on its own commands. A finished command stays finished when an older result arrives late.
    """
    command = db.session.get(DeviceCommand, payload["id"])
    if command is None:
        return False
    if (
        serial is not None
        and db.session.scalar(select(Device.serial).where(Device.id == command.device_id)) != serial
    ):
        return False
    if command.status in TERMINAL_COMMAND_STATUSES:
        return True
    command.status = payload["status"]
    progress = payload.get("progress_percent")
    if payload["status"] == "done":
        progress = 100 if progress is None else progress
    if progress is not None:
        command.progress_percent = round(progress)
    if payload.get("message"):
        command.message = payload["message"][:500]
    command.updated_at = now
    db.session.flush()
    return True


# ---------------------------------------------------------------- downsampling


def _bucket_start(ts: datetime, bucket_seconds: int) -> datetime:
    epoch = int(ts.replace(tzinfo=UTC).timestamp())
    return from_unix(epoch - epoch % bucket_seconds)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _fold(samples: Sequence[Any], bucket_seconds: int) -> dict[str, Any]:
    column = {
        name: [getattr(s, name) for s in samples if getattr(s, name) is not None]
        for name in (*ROLLUP_AVERAGES, "input_voltage_v")
    }
    voltages = column["input_voltage_v"]
    return {
        "bucket_seconds": bucket_seconds,
        "samples": len(samples),
        **{name: _mean(column[name]) for name in ROLLUP_AVERAGES},
        "min_input_voltage_v": min(voltages) if voltages else None,
        "max_input_voltage_v": max(voltages) if voltages else None,
        "on_battery_samples": sum(1 for s in samples if "OB" in s.ups_status.split()),
    }


def _merge(rollup: TelemetryRollup, new: dict[str, Any]) -> None:
    """Fold late samples into an existing bucket, weighting averages by sample count."""
    old_n, new_n = rollup.samples, new["samples"]
    for name in ROLLUP_AVERAGES:
        a, b = getattr(rollup, name), new[name]
        setattr(
            rollup, name, b if a is None else a if b is None else (a * old_n + b * new_n) / (old_n + new_n)
        )
    lows = [v for v in (rollup.min_input_voltage_v, new["min_input_voltage_v"]) if v is not None]
    highs = [v for v in (rollup.max_input_voltage_v, new["max_input_voltage_v"]) if v is not None]
    rollup.min_input_voltage_v = min(lows) if lows else None
    rollup.max_input_voltage_v = max(highs) if highs else None
    rollup.samples = old_n + new_n
    rollup.on_battery_samples += new["on_battery_samples"]


@dataclass(frozen=True)
class Folded:
    """One device's samples folded into rollups: how many, and the largest id among them."""

    device_id: int
    samples: int
    max_id: int


def fold_into_rollups(source: Any, where: Any, bucket_seconds: int) -> Iterator[Folded]:
    """Fold the samples of ``source`` matching ``where`` into per-device rollup buckets, device by device.

    The one rule for turning full-resolution samples into rollups, whichever way they then go:
    ``downsample`` deletes the rows it folded, time partitions drop the whole table
    (``telemetry_partitions``). ``source`` is ``telemetry_samples`` or a table of the same columns (a
    detached partition). A bucket that already exists (late samples) is merged, weighted by counts.
    Each device's rollups are flushed before it is yielded; nothing is deleted here.
    """
    device_ids = db.session.scalars(select(source.c.device_id).where(where).distinct()).all()
    for device_id in device_ids:
        samples = db.session.execute(
            select(*_fold_columns(source)).where(source.c.device_id == device_id, where).order_by(source.c.ts)
        ).all()
        buckets: dict[datetime, list[Any]] = defaultdict(list)
        for sample in samples:
            buckets[_bucket_start(sample.ts, bucket_seconds)].append(sample)
        existing = {
            r.bucket_start: r
            for r in db.session.scalars(
                select(TelemetryRollup).where(
                    TelemetryRollup.device_id == device_id, TelemetryRollup.bucket_start.in_(list(buckets))
                )
            )
        }
        for start, group in buckets.items():
            values = _fold(group, bucket_seconds)
            if start in existing:
                _merge(existing[start], values)
            else:
                db.session.add(TelemetryRollup(device_id=device_id, bucket_start=start, **values))
        db.session.flush()
        yield Folded(device_id, len(samples), max(s.id for s in samples))


def _fold_columns(source: Any) -> list[Any]:
    """The columns the fold reads, from ``telemetry_samples`` or a table shaped like it."""
    return [source.c[name] for name in ("id", "ts", "ups_status", *ROLLUP_AVERAGES)]


def downsample(before: datetime, bucket_seconds: int = 900, *, source: Any = None) -> int:
    """Fold full-resolution samples older than ``before`` into buckets and delete them; returns how many.

    Only whole buckets are folded (the cut-off is rounded down to a bucket boundary), and samples are
    deleted as they are folded, so running it again changes nothing. ``source`` narrows it to one table
    shaped like ``telemetry_samples`` (the DEFAULT partition, when partitioned); else the whole table.
    """
    cutoff = _bucket_start(before, bucket_seconds)
    source = TelemetrySample.__table__ if source is None else source
    folded = 0
    for done in fold_into_rollups(source, source.c.ts < cutoff, bucket_seconds):
        # Delete exactly what was folded: a sample inserted meanwhile has a larger id.
        db.session.execute(
            delete(source).where(
                source.c.device_id == done.device_id, source.c.ts < cutoff, source.c.id <= done.max_id
            )
        )
        folded += done.samples
    return folded


# ---------------------------------------------------------------- freshness


def _last_seen(then: datetime, now: datetime) -> str:
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 1:
        return "last seen less than a minute ago"
    if minutes < 120:
        return f"last seen {minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    if hours < 48:
        return f"last seen {hours} hours ago"
    return f"last seen {hours // 24} days ago"


def device_freshness(
    status: DeviceStatus | None, now: datetime, stale_after: timedelta | float
) -> tuple[str, str]:
    """("online" | "stale" | "offline", "last seen 7 minutes ago") for the dashboard."""
    stale_after = stale_after if isinstance(stale_after, timedelta) else timedelta(seconds=stale_after)
    if status is None or status.last_seen_at is None:
        return "offline", "never seen"
    seen = _last_seen(status.last_seen_at, now)
    if not status.online:
        return "offline", seen
    if now - status.last_seen_at > stale_after:
        return "stale", seen
    return "online", seen
