"""Time partitions of ``telemetry_samples`` on PostgreSQL: opt-in, ``UPSCONNECT_TELEMETRY_PARTITIONS=daily``.

``convert`` (``flask telemetry partition``) turns the one table into a table ``PARTITION BY RANGE (ts)``
with one partition a day (``telemetry_samples_pYYYYMMDD``) and a ``DEFAULT`` partition, copying the
rows in one transaction. ``maintain`` (``flask maintenance`` once the table is partitioned) creates the
partitions ahead, folds each partition older than the full-resolution cut-off into rollups through
``telemetry_store.fold_into_rollups`` (the same rule as the row path), then drops it instead of deleting
its rows. SQLite keeps the single table and the row deletes (``telemetry_store.downsample``).

Nothing here commits except ``maintain``, which commits after each step so that a detach (which locks
the parent table) is held for a moment only; the caller commits ``convert``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import column, table, text
from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.models import TelemetrySample
from portal.services.fleet import telemetry_store

TABLE = "telemetry_samples"
DEFAULT_PARTITION = f"{TABLE}_default"
DAY_PARTITION = re.compile(rf"^{TABLE}_p(\d{{8}})$")
DAYS_AHEAD = 7
SETTING = "UPSCONNECT_TELEMETRY_PARTITIONS"
SETTINGS = ("", "daily")  # unset: one table
LOCK_TIMEOUT = "2s"  # the longest a step of maintenance waits for a lock; queries queue behind a waiting lock
LOCK_NOT_AVAILABLE = "55P03"


class PartitionError(Exception):
    """A request the database or the setting cannot honour; nothing was changed."""


def setting(config: Mapping[str, Any]) -> str:
    """The configured partitioning, "" (one table) or "daily"; anything else is refused clearly."""
    raw = config.get("TELEMETRY_PARTITIONS") or ""
    value = str(raw).strip().lower()
    if value not in SETTINGS:
        raise PartitionError(
            f"{SETTING}={raw!r} is not understood: set it to daily (one partition a day, PostgreSQL only) "
            "or leave it unset for one table. Nothing was changed."
        )
    return value


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def is_partitioned() -> bool:
    """Whether ``telemetry_samples`` is a partitioned table (always False on SQLite)."""
    if not on_postgresql():
        return False
    kind = db.session.scalar(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:name)"), {"name": TABLE})
    return kind == "p"


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min)


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None: the DEFAULT partition
    end: datetime | None


_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


def partitions() -> list[Partition]:
    """The partitions attached to ``telemetry_samples``, by start (the DEFAULT one last)."""
    rows = db.session.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:name)"
        ),
        {"name": TABLE},
    ).all()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match:
            found.append(Partition(name, datetime.fromisoformat(match[1]), datetime.fromisoformat(match[2])))
        else:
            found.append(Partition(name, None, None))
    return sorted(found, key=lambda p: (p.start is None, p.start or datetime.min))


def _exists(name: str) -> bool:
    return db.session.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})


def _span(day: date) -> str:
    start, end = _midnight(day), _midnight(day + timedelta(days=1))
    return f"FOR VALUES FROM ('{start.isoformat(sep=' ')}') TO ('{end.isoformat(sep=' ')}')"


def _attach(name: str, day: date) -> None:
    """Attach a table of one day's samples, first moving in the rows of that day the DEFAULT partition holds
    (a partition cannot be attached over them); a row it already has (a redelivery) is not moved twice."""
    bounds = {"start": _midnight(day), "end": _midnight(day + timedelta(days=1))}
    if _exists(DEFAULT_PARTITION):
        db.session.execute(
            text(
                f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE ts >= :start AND ts < :end RETURNING *) "
                f"INSERT INTO {name} SELECT * FROM moved ON CONFLICT DO NOTHING"
            ),
            bounds,
        )
    db.session.execute(text(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} {_span(day)}"))


def _create_day(day: date) -> None:
    """One day's partition; rows of that day already in the DEFAULT partition are moved into it."""
    name = partition_name(day)
    stranded = _exists(DEFAULT_PARTITION) and db.session.scalar(
        text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE ts >= :start AND ts < :end)"),
        {"start": _midnight(day), "end": _midnight(day + timedelta(days=1))},
    )
    if not stranded:
        db.session.execute(text(f"CREATE TABLE {name} PARTITION OF {TABLE} {_span(day)}"))
        return
    # LIKE copies no unique key: the moved rows were unique in DEFAULT, and ATTACH adds the parent's keys.
    db.session.execute(text(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)"))
    _attach(name, day)


def ensure_partitions(days: list[date]) -> list[str]:
    """The DEFAULT partition and one partition for each of ``days``; returns the names created."""
    attached = {p.name for p in partitions()}
    created = []
    if DEFAULT_PARTITION not in attached:
        db.session.execute(text(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT"))
        created.append(DEFAULT_PARTITION)
    for day in sorted(set(days)):
        if partition_name(day) not in attached:
            _create_day(day)
            created.append(partition_name(day))
    return created


def _days_ahead(today: date, days_ahead: int) -> list[date]:
    return [today + timedelta(days=n) for n in range(days_ahead + 1)]


# ---------------------------------------------------------------- conversion


@dataclass(frozen=True)
class Conversion:
    copied: int  # samples moved into the partitioned table
    partitions: list[str]


def convert(today: date, days_ahead: int = DAYS_AHEAD) -> Conversion | None:
    """Make ``telemetry_samples`` partitioned by day, with every row copied; None if it already is.

    One transaction (the caller commits): the table is locked, renamed aside, a partitioned table of the
    same columns and defaults (the same id sequence) takes its name, with a partition for every day that
    holds samples (up to ``days_ahead`` after ``today``; others go to DEFAULT) and for the days ahead.
    The rows are copied, the old table dropped, and the keys, index, foreign keys and the sequence's
    ownership recreated. The unique key becomes (device_id, seq, ts): a partitioned table's unique keys
    must hold the partition key.
    """
    if not on_postgresql():
        raise PartitionError(
            "Time partitions need PostgreSQL; this database is "
            f"{db.session.get_bind().dialect.name}, which keeps one telemetry table and deletes old samples "
            "row by row. Nothing was changed."
        )
    if is_partitioned():
        return None
    old = f"{TABLE}_unpartitioned"
    db.session.execute(text(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE"))
    sequence = db.session.scalar(text("SELECT pg_get_serial_sequence(:name, 'id')"), {"name": TABLE})
    foreign_keys = db.session.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(:name) AND contype = 'f' ORDER BY conname"
        ),
        {"name": TABLE},
    ).all()
    last_day = today + timedelta(days=days_ahead)
    days = [
        day
        for (day,) in db.session.execute(text(f"SELECT DISTINCT CAST(ts AS date) FROM {TABLE}"))
        if day <= last_day
    ]
    db.session.execute(text(f"ALTER TABLE {TABLE} RENAME TO {old}"))
    db.session.execute(text(f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (ts)"))
    created = ensure_partitions([*days, *_days_ahead(today, days_ahead)])
    copied = db.session.execute(text(f"INSERT INTO {TABLE} SELECT * FROM {old}")).rowcount or 0
    if sequence:
        db.session.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY {TABLE}.id"))
    db.session.execute(text(f"DROP TABLE {old}"))
    db.session.execute(text(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, ts)"))
    db.session.execute(
        text(f"ALTER TABLE {TABLE} ADD CONSTRAINT uq_telemetry_device_seq_ts UNIQUE (device_id, seq, ts)")
    )
    db.session.execute(text(f"CREATE INDEX ix_telemetry_device_ts ON {TABLE} (device_id, ts)"))
    for name, definition in foreign_keys:
        db.session.execute(text(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}'))
    return Conversion(copied=copied, partitions=created)


# ---------------------------------------------------------------- maintenance


@dataclass
class PartitionRun:
    """What one ``maintain`` did."""

    cutoff: datetime  # partitions ending at or before this were folded and dropped
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    folded: int = 0  # samples of the dropped partitions, now in rollups
    folded_rows: int = 0  # samples of the DEFAULT partition folded and deleted row by row
    waiting: list[str] = field(default_factory=list)  # steps that waited too long for a lock: next run


def _shaped_like_samples(name: str) -> Any:
    """A Core table of ``telemetry_samples``' columns under another name (a detached partition)."""
    return table(name, *[column(c.name, c.type) for c in TelemetrySample.__table__.columns])


def _fold_and_drop(name: str, bucket_seconds: int) -> int:
    source = _shaped_like_samples(name)
    folded = sum(done.samples for done in telemetry_store.fold_into_rollups(source, source.c.id.isnot(None), bucket_seconds))
    db.session.execute(text(f"DROP TABLE {name}"))
    return folded


def _detached_leftovers() -> list[str]:
    """Day tables no longer attached: a run stopped between its detach and its drop."""
    names = db.session.scalars(
        text(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
            "AND relnamespace = current_schema()::regnamespace AND relname LIKE :like"
        ),
        {"like": f"{TABLE}_p%"},
    ).all()
    return sorted(name for name in names if DAY_PARTITION.match(name))


def _locked_step(run: PartitionRun, name: str, step: Callable[[], None]) -> bool:
    """Run one step that takes a strong lock in its own transaction: creating, attaching or detaching a
    partition (exclusive on ``telemetry_samples``; the foreign key makes it lock ``devices`` against writes),
    or dropping a detached one (its foreign key takes an exclusive lock on ``devices`` for the moment of
    the drop).

    It waits at most ``LOCK_TIMEOUT`` for its lock: a long query holding the table would otherwise keep
    it waiting while every write queued behind it. A step that times out is rolled back (a fold with the
    drop it belongs to), named in ``run.waiting`` and left for the next run.
    """
    try:
        db.session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        step()
        db.session.commit()
        return True
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        db.session.rollback()
        run.waiting.append(name)
        return False


def maintain(
    before: datetime, today: date, bucket_seconds: int = 900, days_ahead: int = DAYS_AHEAD
) -> PartitionRun:
    """Partitions ahead, then old partitions folded into rollups and dropped; safe to run any number of times.

    ``before`` is the full-resolution cut-off (``clock.retention_cutoff``). It is rounded down to the
    partition boundary (midnight), so samples stay at full resolution up to a day longer than with row
    deletes and no partition is ever split; a partition is dropped only when it ends at or before that
    midnight, so it can hold nothing newer. Each drop is two transactions: the detach (a brief lock on
    ``telemetry_samples``, after which late samples of that day go to DEFAULT), then the fold and the
    drop together, so a stop between them leaves a detached table the next run folds (never twice).
    What the DEFAULT partition holds older than the cut-off is folded and deleted row by row.
    """
    cutoff = _midnight(before.date())
    run = PartitionRun(cutoff=cutoff)
    for day in [None, *_days_ahead(today, days_ahead)]:  # None: the DEFAULT partition, first
        wanted = [] if day is None else [day]
        name = DEFAULT_PARTITION if day is None else partition_name(day)
        _locked_step(run, name, lambda wanted=wanted: run.created.extend(ensure_partitions(wanted)))

    def fold_and_drop(name: str) -> None:
        folded = _fold_and_drop(name, bucket_seconds)
        run.folded += folded
        run.dropped.append(name)

    for name in _detached_leftovers():
        day = datetime.strptime(DAY_PARTITION.match(name)[1], "%Y%m%d").date()
        if _midnight(day + timedelta(days=1)) <= cutoff:
            _locked_step(run, name, lambda name=name: fold_and_drop(name))
        else:  # not old enough after all (the clock was set back): put it back
            _locked_step(run, name, lambda name=name, day=day: _attach(name, day))

    for partition in partitions():
        if partition.end is None or partition.end > cutoff:
            continue
        detach = f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name}"
        if _locked_step(run, partition.name, lambda detach=detach: db.session.execute(text(detach))):
            _locked_step(run, partition.name, lambda name=partition.name: fold_and_drop(name))

    # Only the DEFAULT partition is cleared row by row: an old day whose detach waited stays whole for
    # the next run to drop.
    if _exists(DEFAULT_PARTITION):
        default = _shaped_like_samples(DEFAULT_PARTITION)
        run.folded_rows = telemetry_store.downsample(cutoff, bucket_seconds, source=default)
    db.session.commit()
    return run
