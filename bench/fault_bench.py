"""Fault benchmark: a fleet through broker restarts and ingest kills, counting what was lost or doubled.

    .venv/bin/python -m bench fault                                   # 1,000 devices, 100 msg/s, 180 s
    .venv/bin/python bench/fault_bench.py --devices 50 --rate 25 --duration 30 --runs 1

A simulated fleet of claimed devices (Standard plan, so offline alerts are live) publishes telemetry at
QoS 1 to a private Mosquitto; ``flask ingest`` (a child process, SQLite in a temp dir) stores it. During
``--duration`` seconds the broker is restarted ``--broker-restarts`` times (down ``--broker-down`` s each,
a clean stop that saves its persistence) and ingest is killed with SIGKILL ``--ingest-kills`` times (and
started again after ``--ingest-down`` s), evenly spread. Then the fleet pauses and ingest drains. Printed
per run: telemetry published, stored, lost (published, never stored), duplicated (stored twice: the
database's (device, seq) key forbids it, counted anyway) and offline / back-online alerts queued
(spurious: every outage is shorter than the grace period). With ``--runs`` > 1, min / median / max.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench import ingest_bench  # noqa: E402
from bench.ingest_bench import (  # noqa: E402
    prepare_database,
    start_broker,
    telemetry_sent,
    wait_for,
)
from devicelink.brokers import mosquitto_binary  # noqa: E402
from devicelink.provisioning import LAB_FACTORY_KEY, manufacture  # noqa: E402
from simulator.device import SimulatedDevice  # noqa: E402
from simulator.fleet import Fleet, SimClock  # noqa: E402


@dataclass
class Run:
    published: int
    stored: int
    lost: int
    duplicated: int
    offline_alerts: int
    back_online_alerts: int
    seconds: float


def populate(db_url: str, identities) -> None:
    """One customer owning every device, each on a Standard license: offline alerts would go out."""
    from werkzeug.security import generate_password_hash

    from portal import create_app
    from portal.extensions import db
    from portal.models import Company, CompanyKind, Device, Entitlement, SubscriptionSegment, User

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "SECRET_KEY": "bench", "FACTORY_KEY": "bench"})
    now, today = datetime.utcnow(), date.today()
    with app.app_context():
        company = Company(name="Fault Bench Co", kind=CompanyKind.CUSTOMER, country="France", created_at=now)
        user = User(company=company, email="faults@bench.example", name="Bench", is_admin=True, created_at=now,
                    password_hash=generate_password_hash("bench password 1"))  # fmt: skip
        db.session.add_all([company, user])
        db.session.flush()
        db.session.execute(Device.__table__.insert(), [
            {"id": n, "serial": i.serial, "model": i.model, "firmware": i.firmware, "battery_type": "lead-acid",
             "outlet_groups": ["Main Outlets"], "owner_company_id": company.id, "first_seen_at": now, "claimed_at": now}
            for n, i in enumerate(identities, start=1)
        ])  # fmt: skip
        db.session.execute(Entitlement.__table__.insert(), [
            {"id": n, "device_id": n, "plan": "standard", "months": 12, "bonus_months": 0, "source": "license",
             "sku": "SCSTD1Y", "assigned_on": today, "assigned_at": now}
            for n in range(1, len(identities) + 1)
        ])  # fmt: skip
        db.session.execute(SubscriptionSegment.__table__.insert(), [
            {"device_id": n, "plan": "standard", "start": today - timedelta(days=1),
             "end": today + timedelta(days=365), "entitlement_id": n}
            for n in range(1, len(identities) + 1)
        ])  # fmt: skip
        db.session.commit()
        db.engine.dispose()


def start_ingest(db_url: str, mqtt_url: str, log_path: Path, grace_s: float) -> subprocess.Popen:
    """The bench's ingest with this offline grace, appending to one log across its restarts."""
    return ingest_bench.start_ingest(
        db_url, mqtt_url, log_path, env={"UPSCONNECT_OFFLINE_GRACE_SECONDS": str(grace_s)}, append=True
    )


def count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def one_run(args: argparse.Namespace, number: int) -> Run:
    identities = manufacture(args.devices, seed=40 + number, factory_key=LAB_FACTORY_KEY)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fault-bench-") as tmp:
        tmp_path = Path(tmp)
        db_url = f"sqlite:///{tmp_path / 'bench.db'}"
        prepare_database(db_url)
        populate(db_url, identities)
        engine = create_engine(db_url)
        broker, mqtt_url = start_broker(tmp_path / "mosquitto", identities)
        log_path = tmp_path / "ingest.log"
        ingest = start_ingest(db_url, mqtt_url, log_path, args.grace)
        if not wait_for(lambda: "subscribed at QoS 1" in log_path.read_text(), 30):
            raise SystemExit(f"ingest did not subscribe:\n{log_path.read_text()[-2000:]}")
        clock = SimClock(speed=1.0)
        devices = [SimulatedDevice(i, seed=5, sim_start_s=clock.start_s) for i in identities]
        seq0 = sum(d.seq for d in devices)
        fleet = Fleet(devices, broker.endpoint(), clock=clock, interval_s=args.devices / args.rate,
                      shards=args.shards, backoff_min_s=0.5, backoff_max_s=5.0)  # fmt: skip
        faults = ["broker"] * args.broker_restarts + ["ingest"] * args.ingest_kills
        faults = [faults[i // 2 + (len(faults) + 1) // 2 * (i % 2)] for i in range(len(faults))]  # interleave
        step = args.duration / (len(faults) + 1)
        try:
            fleet.start()
            if not wait_for(lambda: fleet.connected_count() == args.devices, 120):
                raise SystemExit("the fleet did not connect")
            t0 = time.monotonic()
            for n, fault in enumerate(faults, start=1):
                time.sleep(max(0.0, t0 + n * step - time.monotonic()))
                if fault == "broker":
                    print(f"  run {number}: {time.monotonic() - t0:5.0f} s  broker stopped for {args.broker_down:g} s",
                          flush=True)  # fmt: skip
                    broker.stop()
                    time.sleep(args.broker_down)
                    broker.start(30)
                else:
                    print(f"  run {number}: {time.monotonic() - t0:5.0f} s  ingest killed (SIGKILL) for "
                          f"{args.ingest_down:g} s", flush=True)  # fmt: skip
                    os.killpg(ingest.pid, signal.SIGKILL)
                    ingest.wait(10)
                    time.sleep(args.ingest_down)
                    ingest = start_ingest(db_url, mqtt_url, log_path, args.grace)
            time.sleep(max(0.0, t0 + args.duration - time.monotonic()))
            fleet.interval_s = 3600.0  # pause: the round already scheduled goes, then nothing for an hour
            time.sleep(args.devices / args.rate * 1.2)
            wait_for(lambda: fleet.connected_count() == args.devices and fleet.acked >= fleet.published, 60)
            published = telemetry_sent(fleet, devices, seq0)
            stored_sql = "SELECT count(*) FROM telemetry_samples"
            wait_for(lambda: count(engine, stored_sql) >= published, args.drain)
            time.sleep(2 * 5.0)  # two offline passes after the drain: a late alert would show
            stored = count(engine, stored_sql)
            distinct = count(engine, "SELECT count(*) FROM (SELECT DISTINCT device_id, seq FROM telemetry_samples)")
            offline = count(engine, "SELECT count(*) FROM notification_deliveries WHERE event_type = 'device_offline'")
            online = count(engine, "SELECT count(*) FROM notification_deliveries WHERE event_type = 'device_online'")
        finally:
            fleet.stop()
            with_pid = ingest.poll() is None
            if with_pid:
                ingest.terminate()
                ingest.wait(30)
            broker.stop()
            engine.dispose()
        return Run(published, stored, max(0, published - stored), stored - distinct, offline, online,
                   time.monotonic() - started)  # fmt: skip


HEADER = f"{'run':>4} {'published':>9} {'stored':>9} {'lost':>5} {'duplicated':>10} {'offline alerts':>14} {'back online':>11} {'seconds':>8}"


def format_run(label: str, run: Run) -> str:
    p, s, lost, dup, off, on, secs = astuple(run)
    return f"{label:>4} {p:>9.0f} {s:>9.0f} {lost:>5.0f} {dup:>10.0f} {off:>14.0f} {on:>11.0f} {secs:>8.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="telemetry messages per second, whole fleet")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of faults per run")
    parser.add_argument("--runs", type=int, default=1, help="runs; more than one prints min / median / max")
    parser.add_argument("--broker-restarts", type=int, default=2)
    parser.add_argument("--broker-down", type=float, default=5.0, help="seconds the broker stays down")
    parser.add_argument("--ingest-kills", type=int, default=2)
    parser.add_argument("--ingest-down", type=float, default=3.0, help="seconds before a killed ingest restarts")
    parser.add_argument("--grace", type=float, default=300.0, help="UPSCONNECT_OFFLINE_GRACE_SECONDS for ingest")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds allowed to store the backlog")
    parser.add_argument("--shards", type=int, default=2)
    args = parser.parse_args(argv)
    if mosquitto_binary() is None:
        print("mosquitto is not installed; the benchmark needs it", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    print(f"{args.devices} devices at {args.rate:g} msg/s for {args.duration:g} s: broker restarted "
          f"{args.broker_restarts}x ({args.broker_down:g} s down), ingest killed {args.ingest_kills}x; "
          f"offline grace {args.grace:g} s; SQLite, Mosquitto on 127.0.0.1", flush=True)  # fmt: skip
    runs = [one_run(args, n) for n in range(1, args.runs + 1)]
    print(HEADER)
    for n, run in enumerate(runs, start=1):
        print(format_run(str(n), run))
    if len(runs) > 1:
        columns = list(zip(*(astuple(r) for r in runs), strict=True))
        for label, pick in (("min", min), ("med", statistics.median), ("max", max)):
            print(format_run(label, Run(*(pick(c) for c in columns))))
    bad = [r for r in runs if r.lost or r.duplicated or r.offline_alerts or r.back_online_alerts]
    print("0 lost, 0 duplicated, 0 spurious alerts" if not bad else f"{len(bad)} run(s) lost, doubled or alerted")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
