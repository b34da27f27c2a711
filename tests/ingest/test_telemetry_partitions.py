"""Time-partitioned telemetry (docs/scaling.md): `flask telemetry partition` and `flask maintenance` for real.

On PostgreSQL (skipped where none answers): the setting read from the environment through
portal/config.py, the conversion through its CLI entry point, samples over several days written by the
telemetry store, partitions ahead created, old ones folded into rollups through the same fold as the
row path and dropped, the device history still read, and a second run changing nothing. On SQLite and
for a setting it does not know, a clear refusal and no change.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from portal.extensions import db as _db
from portal.models import Device, DeviceStatus, TelemetryRollup, TelemetrySample
from portal.services.clock import clock
from portal.services.fleet import device_history, telemetry_partitions
from portal.services.fleet import telemetry_store as store
from tests.conftest import POSTGRES_ADMIN_URL, fresh_schema, make_app

ROOT = Path(__file__).resolve().parents[2]

SERIALS = ("AS2611000101", "AS2611000102")


def _unix(ts: datetime) -> float:
    return ts.replace(tzinfo=UTC).timestamp()


def _app(url: str, tmp_path, monkeypatch, setting: str | None):
    """The portal with UPSCONNECT_TELEMETRY_PARTITIONS as an operator sets it: in the environment."""
    if setting is None:
        monkeypatch.delenv("UPSCONNECT_TELEMETRY_PARTITIONS", raising=False)
    else:
        monkeypatch.setenv("UPSCONNECT_TELEMETRY_PARTITIONS", setting)
    app = make_app(url, tmp_path)
    assert app.config["TELEMETRY_PARTITIONS"] == (setting or "")
    return app


def _run(app, *args: str, ok: bool = True) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert (result.exit_code == 0) is ok, result.output
    return result.output


@pytest.fixture
def partitioned_app(postgres_url, tmp_path, monkeypatch):
    with fresh_schema(_app(postgres_url, tmp_path, monkeypatch, "daily")) as app:
        yield app


def _partitions() -> list[str]:
    return sorted(
        _db.session.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'telemetry_samples'::regclass"
            )
        )
    )


def _table_exists(name: str) -> bool:
    return _db.session.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})


def _rollups() -> list[tuple]:
    _db.session.expire_all()
    return [
        (r.device_id, r.bucket_start, r.samples, r.load_percent, r.min_input_voltage_v, r.on_battery_samples)
        for r in _db.session.scalars(select(TelemetryRollup).order_by(TelemetryRollup.device_id, TelemetryRollup.bucket_start))
    ]


def _count(*where) -> int:
    return _db.session.scalar(select(func.count()).select_from(TelemetrySample).where(*where))


def _day(n: int) -> datetime:
    """Midnight n days from the lab clock's today."""
    return datetime.combine(clock().today() + timedelta(days=n), time.min)


@pytest.mark.postgres
def test_partitions_are_made_ahead_old_days_fold_into_rollups_and_drop_and_a_second_run_changes_nothing(partitioned_app):
    app = partitioned_app
    today = clock().today()
    # Several days of telemetry written by the store while the table is still one table: an existing
    # installation. Days -10 to -8 are older than the cut-off (7 days, rounded down to midnight).
    rows, old = [], defaultdict(list)
    for days_back in (10, 9, 8, 7, 3, 0):
        for serial in SERIALS:
            for minutes in (5, 20, 25, 600):
                ts = _day(-days_back) + timedelta(minutes=minutes)
                on_battery = days_back == 9 and minutes == 20
                load = 10.0 + days_back + minutes / 100
                rows.append(store.TelemetryRow(serial, len(rows) + 1, _unix(ts), {
                    "ups.status": "OB DISCHRG" if on_battery else "OL", "ups.load": load, "input.voltage": 200.0 + minutes,
                }))  # fmt: skip
                if days_back >= 8:
                    old[(serial, ts - timedelta(minutes=minutes % 15))].append((load, 200.0 + minutes, on_battery))
    # one sample a day beyond the partitions made ahead: it waits in the DEFAULT partition
    rows.append(store.TelemetryRow(SERIALS[1], 10_000, _unix(_day(8) + timedelta(hours=1)), {"ups.status": "OL"}))
    store.store_telemetry_batch(rows, now=clock().now())
    _db.session.commit()
    total = _count()
    assert total == len(rows)

    output = _run(app, "telemetry", "partition")
    assert f"now partitioned by day: {total} sample(s) copied" in output
    assert _db.session.scalar(text("SELECT relkind FROM pg_class WHERE oid = 'telemetry_samples'::regclass")) == "p"
    expected_days = {today + timedelta(days=n) for n in (-10, -9, -8, -7, -3, *range(8))}
    assert _partitions() == sorted(
        ["telemetry_samples_default", *(f"telemetry_samples_p{day:%Y%m%d}" for day in expected_days)]
    )
    assert _count() == total  # every row copied, in one transaction
    assert _db.session.scalar(text("SELECT count(*) FROM telemetry_samples_default")) == 1
    assert _db.session.scalar(text("SELECT pg_get_serial_sequence('telemetry_samples', 'id')")) is not None
    assert "already partitioned" in _run(app, "telemetry", "partition")

    # a run that stopped between detaching day -10 and dropping it: the next run folds it once
    oldest = f"telemetry_samples_p{today - timedelta(days=10):%Y%m%d}"
    _db.session.execute(text(f"ALTER TABLE telemetry_samples DETACH PARTITION {oldest}"))
    _db.session.commit()

    output = _run(app, "maintenance")
    folded = sum(len(samples) for samples in old.values())
    assert f"folded {folded} telemetry sample(s)" in output
    assert "0 created ahead, 3 older than" in output and f"({folded} sample(s))" in output
    for n in (-10, -9, -8):
        assert not _table_exists(f"telemetry_samples_p{today + timedelta(days=n):%Y%m%d}")
    # the cut-off's own day (-7) still holds samples newer than the cut-off: kept, like everything newer
    for n in (-7, -3, *range(8)):
        assert _table_exists(f"telemetry_samples_p{today + timedelta(days=n):%Y%m%d}")
    assert _count() == total - folded
    assert _count(TelemetrySample.ts < _day(-7)) == 0

    # the rollups hold exactly what the dropped partitions held, bucket by bucket
    ids = dict(_db.session.execute(select(Device.serial, Device.id)).all())
    expected = sorted(
        (
            ids[serial], start, len(samples), pytest.approx(sum(s[0] for s in samples) / len(samples)),
            min(s[1] for s in samples), sum(1 for s in samples if s[2]),
        )
        for (serial, start), samples in old.items()
    )  # fmt: skip
    assert _rollups() == expected

    # the device page's history reads the rollups before the oldest sample, then the samples
    device = _db.session.get(Device, ids[SERIALS[0]])
    history = device_history.history(device, "30d", fallback_end=clock().now())
    assert history["resolution"] == "buckets"
    assert int(_unix(_day(-10))) in history["x"]  # a dropped day, from its rollups
    assert int(_unix(_day(-3))) in history["x"]  # a kept day, from its samples
    assert len(device_history.history(device, "24h", fallback_end=clock().now())["x"]) == 4

    # a late sample of a dropped day lands in DEFAULT; the next run folds it row by row into its bucket
    late_ts = _day(-9) + timedelta(minutes=21)
    _db.session.add(TelemetrySample(device_id=ids[SERIALS[0]], seq=99_999, ts=late_ts, ups_status="OL", load_percent=50.0))
    _db.session.commit()
    output = _run(app, "maintenance")
    assert "1 sample(s) of the default partition folded row by row" in output
    bucket = [r for r in _rollups() if r[:2] == (ids[SERIALS[0]], _day(-9) + timedelta(minutes=15))]
    assert bucket[0][2] == len(old[(SERIALS[0], _day(-9) + timedelta(minutes=15))]) + 1

    # a second run changes nothing
    before = (_partitions(), _rollups(), _count())
    output = _run(app, "maintenance")
    assert "folded 0 telemetry sample(s)" in output and "0 created ahead, 0 older than" in output
    assert (_partitions(), _rollups(), _count()) == before

    # a day later (the lab clock moved: nothing ages by a move) the new day ahead takes its sample out of
    # DEFAULT, and nothing more is dropped
    clock().advance(timedelta(days=1))
    _db.session.commit()
    output = _run(app, "maintenance")
    assert "1 created ahead, 0 older than" in output and "folded 0 telemetry sample(s)" in output
    assert _table_exists(f"telemetry_samples_p{today + timedelta(days=8):%Y%m%d}")
    assert _db.session.scalar(text("SELECT count(*) FROM telemetry_samples_default")) == 0
    assert _count() == before[2]


@pytest.mark.postgres
def test_on_a_partitioned_table_a_redelivery_is_stored_once_and_a_reused_seq_with_a_new_ts_is_a_new_sample(
    partitioned_app,
):
    app = partitioned_app
    _run(app, "telemetry", "partition")
    ts = _unix(clock().now() - timedelta(minutes=5))
    ids = store.DeviceIds()
    first = store.store_telemetry_batch([store.TelemetryRow(SERIALS[0], 7, ts, {"ups.status": "OL"})], now=clock().now(), ids=ids)
    again = store.store_telemetry_batch([store.TelemetryRow(SERIALS[0], 7, ts, {"ups.status": "OL"})], now=clock().now(), ids=ids)
    _db.session.commit()
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    assert _count() == 1

    # After a reset the device numbers from the start again: seq 7 with a new timestamp. With one table it
    # is counted a duplicate (tests/ingest/test_telemetry_store.py); partitioned, the key is (device, seq,
    # ts), so it is a new sample. Both move the latest row forward.
    reset = store.store_telemetry_batch(
        [store.TelemetryRow(SERIALS[0], 7, ts + 60, {"ups.status": "OB DISCHRG"})], now=clock().now(), ids=ids
    )
    _db.session.commit()
    assert (reset.stored, reset.duplicates) == (1, 0)
    assert _count() == 2
    status = _db.session.get(DeviceStatus, ids.ids[SERIALS[0]])
    assert (status.last_seq, status.ups_status) == (7, "OB DISCHRG")


def test_sqlite_refuses_the_conversion_clearly_and_keeps_one_table(tmp_path, monkeypatch):
    app = _app(f"sqlite:///{tmp_path / 'portal.db'}", tmp_path, monkeypatch, "daily")
    with app.app_context():
        _db.create_all()
        old = clock().now() - timedelta(days=10)
        store.store_telemetry_batch([store.TelemetryRow(SERIALS[0], 1, _unix(old), {"ups.status": "OL"})], now=clock().now())
        _db.session.commit()
        schema = _db.session.scalars(text("SELECT sql FROM sqlite_master ORDER BY name")).all()

        output = _run(app, "telemetry", "partition", ok=False)
        assert "Time partitions need PostgreSQL; this database is sqlite" in output
        assert "Nothing was changed." in output
        assert _db.session.scalars(text("SELECT sql FROM sqlite_master ORDER BY name")).all() == schema
        assert _count() == 1

        # maintenance says the setting does nothing here and keeps deleting row by row
        output = _run(app, "maintenance")
        assert "UPSCONNECT_TELEMETRY_PARTITIONS=daily is ignored on SQLite" in output
        assert "folded 1 telemetry sample(s)" in output and _count() == 0
        _db.session.remove()
        _db.engine.dispose()


def test_an_unknown_setting_is_a_clear_error_and_changes_nothing(tmp_path, monkeypatch):
    app = _app(f"sqlite:///{tmp_path / 'portal.db'}", tmp_path, monkeypatch, "weekly")
    with app.app_context():
        _db.create_all()
        old = clock().now() - timedelta(days=10)
        store.store_telemetry_batch([store.TelemetryRow(SERIALS[0], 1, _unix(old), {"ups.status": "OL"})], now=clock().now())
        _db.session.commit()
        for command in (("telemetry", "partition"), ("maintenance",)):
            output = _run(app, *command, ok=False)
            assert "UPSCONNECT_TELEMETRY_PARTITIONS='weekly' is not understood: set it to daily" in output
            assert "Nothing was changed." in output
        assert _count() == 1 and _rollups() == []  # maintenance did not fold either
        _db.session.remove()
        _db.engine.dispose()


@pytest.mark.postgres
def test_the_conversion_asks_for_the_setting_first(postgres_url, tmp_path, monkeypatch):
    with fresh_schema(_app(postgres_url, tmp_path, monkeypatch, None)) as app:
        output = _run(app, "telemetry", "partition", ok=False)
        assert "UPSCONNECT_TELEMETRY_PARTITIONS is not set: set it to daily" in output
        assert _db.session.scalar(text("SELECT relkind FROM pg_class WHERE oid = 'telemetry_samples'::regclass")) == "r"


@pytest.mark.postgres
def test_a_partition_held_by_a_long_query_is_left_for_the_next_run(partitioned_app, monkeypatch):
    app = partitioned_app
    old_ts = _day(-10) + timedelta(hours=1)
    store.store_telemetry_batch([store.TelemetryRow(SERIALS[0], 1, _unix(old_ts), {"ups.status": "OL"})], now=clock().now())
    _db.session.commit()
    _run(app, "telemetry", "partition")
    oldest = f"telemetry_samples_p{old_ts:%Y%m%d}"
    monkeypatch.setattr(telemetry_partitions, "LOCK_TIMEOUT", "200ms")
    reader = _db.engine.connect()  # a report reading telemetry, its transaction still open
    try:
        reader.execute(text("SELECT count(*) FROM telemetry_samples"))
        output = _run(app, "maintenance")
        assert f"{oldest} waited too long for a lock (on telemetry_samples or devices) and are left for the next run" in output
        assert "folded 0 telemetry sample(s)" in output
        assert oldest in _partitions() and _count() == 1
    finally:
        reader.rollback()
        reader.close()

    # a page reading devices: the detach goes through, the drop (which locks devices) waits and is rolled
    # back with its fold; the detached day stays whole for the next run
    page = _db.engine.connect()
    try:
        page.execute(text("SELECT count(*) FROM devices"))
        output = _run(app, "maintenance")
        assert f"{oldest} waited too long for a lock" in output and "folded 0 telemetry sample(s)" in output
        assert oldest not in _partitions() and _table_exists(oldest)
        assert _rollups() == []
    finally:
        page.rollback()
        page.close()
    output = _run(app, "maintenance")
    assert "folded 1 telemetry sample(s)" in output and "waited" not in output
    assert oldest not in _partitions() and not _table_exists(oldest)
    assert [r[2] for r in _rollups()] == [1]


@pytest.mark.postgres
def test_the_partitions_benchmark_runs_small(postgres_url, tmp_path):
    """bench/partitions_bench.py (docs/scaling.md), tiny and for real: both ways, every figure printed."""
    env = {
        **os.environ,
        "UPSCONNECT_BENCH_POSTGRES_URL": POSTGRES_ADMIN_URL,
        "UPSCONNECT_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "bench/partitions_bench.py", "--devices", "2", "--interval", "3600", "--days", "9"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| one table | 432 | - |" in result.stdout
    assert "| partitioned by day | 432 |" in result.stdout


@pytest.mark.postgres
def test_before_the_conversion_maintenance_says_so_and_deletes_row_by_row(partitioned_app):
    old = clock().now() - timedelta(days=10)
    store.store_telemetry_batch([store.TelemetryRow(SERIALS[0], 1, _unix(old), {"ups.status": "OL"})], now=clock().now())
    _db.session.commit()
    output = _run(partitioned_app, "maintenance")
    assert "telemetry_samples is not partitioned yet; run `flask telemetry partition`" in output
    assert "folded 1 telemetry sample(s)" in output and _count() == 0
    assert _db.session.scalar(text("SELECT relkind FROM pg_class WHERE oid = 'telemetry_samples'::regclass")) == "r"
