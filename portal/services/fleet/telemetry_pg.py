"""PostgreSQL's write path for a telemetry batch: the samples in one statement, the latest rows in one more.

``telemetry_store.store_telemetry_batch`` calls it on PostgreSQL, on the session's own connection and so
inside its transaction (nothing here commits). Each column travels as one binary array parameter and
``unnest`` turns the arrays back into rows on the server, so a batch costs two statements whatever its
size, and the driver never rebuilds or re-parses a statement with thousands of parameters (what an
executemany of the same INSERT cost before: most of the worker's time on PostgreSQL, docs/ingest.md).

- The samples: ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING``; its row count is how many
  were new. The conflict clause names no target, so it holds whichever unique key the table has.
- The latest rows: one ``INSERT ... ON CONFLICT (device_id) DO UPDATE`` for every device of the batch.
  ``last_seen_at`` is always set (any message, even an old one redelivered, shows the device is alive);
  the reported columns and their stored facts move only to a newer sample, by timestamp then seq.

Rows go in sorted by device (then seq), so two workers writing the same devices take their locks in
the same order. Measured against COPY into a temporary staging table followed by one
``INSERT ... SELECT``: the same time within noise (client and server CPU alike) for batches of 200
and 1,000, without a temporary table per connection; so no COPY.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from portal.models import DeviceStatus, TelemetrySample
from portal.services.fleet.stored_facts import STATUS_FACT_COLUMNS

# The tuples' order: telemetry_store builds them, with the readings in its SAMPLE_COLUMNS order.
SAMPLE_NAMES = (
    "device_id", "seq", "ts", "ups_status", "load_percent", "charge_percent", "runtime_s",
    "input_voltage_v", "output_voltage_v", "input_frequency_hz", "temperature_c",
)  # fmt: skip
LATEST_NAMES = ("device_id", "last_telemetry_at", "last_seq", "ups_status", "variables", *STATUS_FACT_COLUMNS)
_DIALECT = postgresql.dialect()


def _unnest(table: Any, names: Sequence[str]) -> str:
    """``unnest(%b::TYPE[], ...) AS u(name, ...)``, each array typed as its column."""
    arrays = ", ".join(f"%b::{table.c[name].type.compile(dialect=_DIALECT)}[]" for name in names)
    return f"unnest({arrays}) AS u({', '.join(names)})"


_SAMPLES = ", ".join(SAMPLE_NAMES)
INSERT_SAMPLES = (
    f"INSERT INTO {TelemetrySample.__tablename__} ({_SAMPLES}) "
    f"SELECT {_SAMPLES} FROM {_unnest(TelemetrySample.__table__, SAMPLE_NAMES)} ON CONFLICT DO NOTHING"
)

_NEWER = (
    "(s.last_telemetry_at IS NULL OR EXCLUDED.last_telemetry_at > s.last_telemetry_at"
    " OR (EXCLUDED.last_telemetry_at = s.last_telemetry_at AND EXCLUDED.last_seq > s.last_seq))"
)
_REPORTED = LATEST_NAMES[1:]
UPSERT_LATEST = (
    f"INSERT INTO {DeviceStatus.__tablename__} AS s (device_id, online, last_seen_at, {', '.join(_REPORTED)}) "
    f"SELECT device_id, true, %b::timestamp, {', '.join(_REPORTED)} "
    f"FROM {_unnest(DeviceStatus.__table__, LATEST_NAMES)} "
    "ON CONFLICT (device_id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, online = true, "
    "state_changed_at = CASE WHEN s.online THEN s.state_changed_at ELSE EXCLUDED.last_seen_at END, "
    + ", ".join(f"{name} = CASE WHEN {_NEWER} THEN EXCLUDED.{name} ELSE s.{name} END" for name in _REPORTED)
)


def _arrays(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _cursor(session: Session) -> Any:
    """A psycopg cursor on the session's connection, so inside its transaction."""
    return session.connection().connection.driver_connection.cursor()


def insert_samples(session: Session, samples: Sequence[tuple[Any, ...]]) -> int:
    """Insert tuples in SAMPLE_NAMES order, each (device_id, seq) at most once; how many were new."""
    if not samples:
        return 0
    with _cursor(session) as cursor:
        cursor.execute(INSERT_SAMPLES, _arrays(sorted(samples, key=lambda s: (s[0], s[1]))))
        return cursor.rowcount


def upsert_latest(session: Session, latest: Sequence[tuple[Any, ...]], now: datetime) -> None:
    """Every device's latest row from tuples in LATEST_NAMES order (``variables`` a dict), one per device."""
    if not latest:
        return
    # variables is the one JSON column: serialised as SQLAlchemy's JSON type does (json.dumps)
    rows = sorted(((*row[:4], json.dumps(row[4]), *row[5:]) for row in latest), key=lambda row: row[0])
    with _cursor(session) as cursor:
        cursor.execute(UPSERT_LATEST, [now, *_arrays(rows)])
