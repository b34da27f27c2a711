"""Old telemetry out of PostgreSQL: row deletes against dropped day partitions (docs/scaling.md).

    .venv/bin/python bench/partitions_bench.py --devices 100 --interval 60 --days 10

For each way, one table and then partitioned by day, in a fresh PostgreSQL database: telemetry of
DEVICES devices every INTERVAL seconds for DAYS days up to now, written with one INSERT ... SELECT; for
the partitioned way `flask telemetry partition` converts the table (timed); then `flask maintenance`
runs through its CLI (timed) and folds what is older than 7 days into rollups. Printed for each: the
samples, the seconds, the samples folded, and the size of telemetry_samples (rows and indexes, every
partition) before and after maintenance: row deletes leave their dead rows in place until a VACUUM,
a dropped partition gives its space back at once. A second maintenance run is timed too (nothing to do).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POSTGRES_ADMIN_URL = os.environ.get("UPSCONNECT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SIZE_SQL = (
    "SELECT coalesce(sum(pg_total_relation_size(oid)), 0) FROM pg_class "
    "WHERE relkind = 'r' AND relname LIKE 'telemetry\\_samples%'"
)


@dataclass(frozen=True)
class Row:
    way: str
    samples: int
    convert_s: float | None
    maintenance_s: float
    folded: int
    mb_before: float
    mb_after: float
    again_s: float


def _admin(sql: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(sql))
    admin.dispose()


def _folded(output: str) -> int:
    return int(output.split("folded ", 1)[1].split(" ", 1)[0])


def measure(partitioned: bool, devices: int, interval_s: int, days: int) -> Row:
    from portal import create_app
    from portal.extensions import db
    from portal.models import Device
    from portal.services.clock import utcnow

    name = f"bench_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "FACTORY_KEY": "bench",
            "TELEMETRY_PARTITIONS": "daily" if partitioned else "",
        })  # fmt: skip
        with app.app_context():
            db.create_all()
            now = utcnow().replace(microsecond=0)
            db.session.add_all(
                Device(serial=f"AS26{n:08d}", model="SMT1500C", first_seen_at=now) for n in range(devices)
            )
            db.session.commit()
            per_device = days * 86_400 // interval_s
            db.session.execute(
                text(
                    "INSERT INTO telemetry_samples (device_id, seq, ts, ups_status, load_percent, charge_percent, "
                    "runtime_s, input_voltage_v, output_voltage_v, input_frequency_hz, temperature_c) "
                    "SELECT d.id, g.n, CAST(:start AS timestamp) + g.n * make_interval(secs => :interval), 'OL', "
                    "20 + g.n % 50, 100, 1800, 228 + g.n % 7, 230, 50, 25 "
                    "FROM devices d CROSS JOIN generate_series(0, :count - 1) AS g(n)"
                ),
                {"start": now - timedelta(days=days), "interval": interval_s, "count": per_device},
            )
            db.session.commit()
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            samples = devices * per_device
            runner = app.test_cli_runner()
            convert_s = None
            if partitioned:
                started = time.perf_counter()
                result = runner.invoke(args=["telemetry", "partition"])
                convert_s = time.perf_counter() - started
                assert result.exit_code == 0, result.output
            mb_before = float(db.session.scalar(text(SIZE_SQL))) / 1e6
            db.session.commit()
            started = time.perf_counter()
            result = runner.invoke(args=["maintenance"])
            maintenance_s = time.perf_counter() - started
            assert result.exit_code == 0, result.output
            mb_after = float(db.session.scalar(text(SIZE_SQL))) / 1e6
            db.session.commit()
            started = time.perf_counter()
            again = runner.invoke(args=["maintenance"])
            again_s = time.perf_counter() - started
            assert again.exit_code == 0 and _folded(again.output) == 0, again.output
            db.session.remove()
            db.engine.dispose()
        return Row(
            "partitioned by day" if partitioned else "one table", samples, convert_s, maintenance_s,
            _folded(result.output), mb_before, mb_after, again_s,
        )  # fmt: skip
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100, help="devices reporting (default 100)")
    parser.add_argument("--interval", type=int, default=60, help="seconds between a device's samples (default 60)")
    parser.add_argument("--days", type=int, default=10, help="days of telemetry up to now; maintenance folds those older than 7 (default 10)")
    args = parser.parse_args(argv)
    if min(args.devices, args.interval, args.days) < 1:
        parser.error("--devices, --interval and --days must each be at least 1")
    os.environ.setdefault("UPSCONNECT_INSTANCE_PATH", tempfile.mkdtemp(prefix="partitions-bench-"))
    rows = [measure(partitioned, args.devices, args.interval, args.days) for partitioned in (False, True)]
    print(f"{args.devices} devices, a sample every {args.interval} s, {args.days} days, PostgreSQL")
    print("| way | samples | convert s | maintenance s | folded | MB before | MB after | again s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        convert = "-" if r.convert_s is None else f"{r.convert_s:.1f}"
        print(
            f"| {r.way} | {r.samples:,} | {convert} | {r.maintenance_s:.1f} | {r.folded:,} | "
            f"{r.mb_before:.1f} | {r.mb_after:.1f} | {r.again_s:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
