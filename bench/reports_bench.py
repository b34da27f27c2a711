"""Export MyInventory for N devices as CSV and XLSX; print seconds and peak memory.

    .venv/bin/python bench/reports_bench.py            # 10,000 devices (and 1,000 to show memory is flat)
    .venv/bin/python bench/reports_bench.py 20000

Seeds a fresh SQLite database (devices, latest status, a trial entitlement and its segment each),
then runs the same service code the download views run: the streamed query, the CSV generator and
XlsxWriter in constant-memory mode. Time is measured without tracing; peak memory is measured in a
second pass with tracemalloc (Python allocations), plus the process RSS growth of the first pass.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import CompanyKind, Device, DeviceStatus, Entitlement, SubscriptionSegment  # noqa: E402
from portal.services import reports  # noqa: E402
from portal.services.accounts.users import sign_up  # noqa: E402

TODAY = date(2026, 11, 23)
MODELS = ["SMT750C", "SMT1000IC", "SMT1500C", "SMT2200IC", "SMT3000C", "SMC1500IC", "SMTL1500RM2UC"]


def seed(company_id: int, n: int, offset: int) -> None:
    rng = random.Random(n)
    now = datetime(2026, 1, 1)
    for start in range(0, n, 2000):
        ids = range(offset + start + 1, offset + min(n, start + 2000) + 1)
        db.session.execute(
            insert(Device),
            [
                {
                    "id": i,
                    "serial": f"BN{i:010d}",
                    "model": rng.choice(MODELS),
                    "firmware": "UPS 15.5 (ID1029)",
                    "battery_type": "lead-acid",
                    "outlet_groups": [],
                    "owner_company_id": company_id,
                    "name": f"UPS {i}",
                    "site": f"Site {i % 40}",
                    "first_seen_at": now,
                    "claimed_at": now,
                    "trial_started_on": date(2026, 6, 1),
                    "battery_installed_on": date(2023, 1, 1) + timedelta(days=i % 900),
                    "battery_warranty_ends_on": date(2027, 6, 1),
                    "warranty_ends_on": date(2026, 1, 1) + timedelta(days=i % 1000),
                }
                for i in ids
            ],
        )
        db.session.execute(
            insert(DeviceStatus),
            [
                {
                    "device_id": i,
                    "online": True,
                    "last_seen_at": now,
                    "last_seq": 1,
                    "ups_status": "OL",
                    "variables": {
                        "ups.load": rng.randint(5, 90),
                        "battery.charge": 100,
                        "ups.temperature": 28.5,
                        "battery.date.maintenance": "2028-01-01" if i % 2 else "",
                    },
                }
                for i in ids
            ],
        )
        db.session.execute(
            insert(Entitlement),
            [
                {
                    "id": i,
                    "device_id": i,
                    "plan": "standard",
                    "months": 6,
                    "source": "trial",
                    "sku": "SCSTDTRIAL6M",
                    "assigned_on": date(2026, 6, 1),
                    "assigned_at": now,
                }
                for i in ids
            ],
        )
        db.session.execute(
            insert(SubscriptionSegment),
            [
                {
                    "device_id": i,
                    "plan": "standard",
                    "start": date(2026, 6, 1),
                    "end": date(2026, 12, 1),
                    "entitlement_id": i,
                }
                for i in ids
            ],
        )
    db.session.commit()


def export(user, kind: str, path: str) -> int:
    columns = reports.INVENTORY_COLUMNS
    rows = reports.device_rows(user, today=TODAY)
    if kind == "csv":
        with open(path, "w", encoding="utf-8", newline="") as out:
            for chunk in reports.csv_stream(columns, rows):
                out.write(chunk)
        return os.path.getsize(path)
    reports.write_xlsx(path, "MyInventory", columns, rows)
    return os.path.getsize(path)


def measure(user, kind: str, path: str) -> tuple[float, float, float, int]:
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    size = export(user, kind, path)
    seconds = time.perf_counter() - started
    rss_delta = (process.memory_info().rss - rss_before) / 2**20
    gc.collect()
    tracemalloc.start()
    export(user, kind, path)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, rss_delta, peak, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000], help="devices per run")
    sizes = parser.parse_args().sizes
    workdir = Path(tempfile.mkdtemp(prefix="reports-bench-"))
    offset = 0
    print(
        f"{'devices':>8} {'format':>6} {'seconds':>8} {'RSS +MiB':>9} {'traced peak MiB':>16} {'file KiB':>9}"
    )
    for n in sizes:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / f'bench{n}.db'}",
                "SECRET_KEY": "bench",
                "FACTORY_KEY": "bench",
                "LAB_MODE": False,
                "TESTING": True,
            }
        )
        app.instance_path = str(workdir / "instance")
        with app.app_context():
            db.create_all()
            user = sign_up(
                company_name=f"Bench {n}",
                kind=CompanyKind.CUSTOMER,
                country="France",
                city="Grenoble",
                phone="",
                user_name="Bench",
                email=f"bench{n}@example.com",
                password="bench password 123",
                now=datetime(2026, 1, 1),
            )
            db.session.commit()
            seed(user.company_id, n, offset)
            offset += n
            for kind in ("csv", "xlsx"):
                seconds, rss, peak, size = measure(user, kind, str(workdir / f"out{n}.{kind}"))
                print(f"{n:>8} {kind:>6} {seconds:>8.2f} {rss:>9.1f} {peak:>16.2f} {size / 1024:>9.0f}")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
