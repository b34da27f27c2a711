"""The telemetry write path alone: ``store_telemetry_batch`` and its commit, in process, no broker.

    .venv/bin/python bench/store_bench.py                    # SQLite in a temp dir
    .venv/bin/python bench/store_bench.py --postgres         # a fresh PostgreSQL database, dropped afterwards
    .venv/bin/python bench/store_bench.py --postgres --batch 200 --rounds 6

Simulated devices' real telemetry (the simulator's NUT variables, about 40 a message), ``--batch``
messages a batch spread over ``--devices`` devices, each batch stored and committed as the ingest worker
does. Per round of ``--batches`` batches: milliseconds per batch of wall time, of this process's CPU
(the worker's own share, which its MQTT thread also needs), and on PostgreSQL of the server backend's
CPU (read from /proc, so only for a server on this machine); the medians over ``--rounds``. Not part of
``make bench``: it measures one function, where ``ingest_bench`` measures the worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.ingest_bench import drop_database, make_database  # noqa: E402
from devicelink.provisioning import LAB_FACTORY_KEY, manufacture  # noqa: E402
from simulator import ups_model  # noqa: E402
from simulator.device import SimulatedDevice  # noqa: E402


def backend_cpu_s(pid: int | None) -> float:
    """CPU seconds a local PostgreSQL backend has used; 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace, url: str) -> list[tuple[float, float, float]]:
    from portal import create_app
    from portal.extensions import db
    from portal.services.fleet import telemetry_store as store

    identities = manufacture(args.devices, seed=5, factory_key=LAB_FACTORY_KEY)
    devices = [SimulatedDevice(i, seed=5, sim_start_s=time.time()) for i in identities]
    variables = [{**ups_model.telemetry(d.state, d.spec), "device.serial": d.serial} for d in devices]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "FACTORY_KEY": "bench"})
    seq, t0 = 10**12, time.time()

    def batch() -> list:
        nonlocal seq
        rows = []
        for k in range(args.batch):
            seq += 1
            d = k % args.devices
            rows.append(store.TelemetryRow(identities[d].serial, seq, t0 + (seq - 10**12) / 1000, variables[d]))
        return rows

    rounds = []
    with app.app_context():
        db.create_all()
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar() if args.postgres else None
        ids = store.DeviceIds()
        for _ in range(3):  # warm: devices created, statements prepared
            store.store_telemetry_batch(batch(), now=datetime.now(UTC).replace(tzinfo=None), ids=ids)
            db.session.commit()
        for _ in range(args.rounds):
            batches = [batch() for _ in range(args.batches)]
            wall, cpu, server = time.perf_counter(), time.process_time(), backend_cpu_s(pid)
            for rows in batches:
                store.store_telemetry_batch(rows, now=datetime.now(UTC).replace(tzinfo=None), ids=ids)
                db.session.commit()
            n = args.batches / 1000
            rounds.append(
                (
                    (time.perf_counter() - wall) / n,
                    (time.process_time() - cpu) / n,
                    (backend_cpu_s(pid) - server) / n,
                )
            )
        db.session.remove()
        db.engine.dispose()
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database instead of SQLite")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000, help="messages a batch")
    parser.add_argument("--batches", type=int, default=20, help="batches a round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if min(args.devices, args.batch, args.batches, args.rounds) < 1:
        parser.error("--devices, --batch, --batches and --rounds must each be at least 1")
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        url, name = make_database(args.postgres, Path(tmp))
        try:
            rounds = run(args, url)
        finally:
            drop_database(name)
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{database}, batches of {args.batch} from {args.devices} devices, {args.batches} batches x {args.rounds} rounds")
    print("ms per batch (median):  wall {:.1f}  this process's CPU {:.1f}  server backend CPU {}".format(
        statistics.median(r[0] for r in rounds),
        statistics.median(r[1] for r in rounds),
        f"{statistics.median(r[2] for r in rounds):.1f}" if args.postgres else "-",
    ))  # fmt: skip
    print("rounds (wall ms per batch):", ", ".join(f"{r[0]:.1f}" for r in rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
