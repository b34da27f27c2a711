"""Ingest benchmark: the ingest worker against a bare paho subscriber on the same stream, same run.

    .venv/bin/python bench/ingest_bench.py                      # 1,000 msg/s, then step up
    .venv/bin/python bench/ingest_bench.py --measure 5 --rates 1000,2000
    .venv/bin/python bench/ingest_bench.py --postgres           # the same into a fresh PostgreSQL database

A simulated fleet publishes telemetry at QoS 1 to a private Mosquitto on 127.0.0.1. Two consumers
subscribe to it: a bare paho subscriber (QoS 1, counts what it receives, stores nothing) and
``flask ingest`` (a child process, SQLite in a temp dir, or a fresh PostgreSQL database with --postgres). For each offered rate: what each consumer
got during the measured window, the ratio stored/received, and what ingest never stored after a
short drain (lost, must be 0). The step-up stops at the first rate the worker does not sustain.
Loopback only, bounded: about ``measure + drain`` seconds per rate.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from devicelink.brokers import PrivateMosquitto, mosquitto_binary  # noqa: E402
from devicelink.contract import Channel, subscription  # noqa: E402
from devicelink.provisioning import LAB_FACTORY_KEY, manufacture  # noqa: E402
from simulator.device import SimulatedDevice  # noqa: E402
from simulator.fleet import Fleet, SimClock  # noqa: E402

PORTAL_USER, PORTAL_PASSWORD = "portal", "bench-password"
SUSTAINED_SHARE = 0.95  # stored within the window, of what was offered


@dataclass
class Row:
    offered_rate: float
    offered: int
    bare: int
    stored: int
    lost: int

    @property
    def ratio(self) -> float:
        return self.stored / self.bare if self.bare else 0.0

    @property
    def sustained(self) -> bool:
        return self.lost == 0 and self.stored >= SUSTAINED_SHARE * self.offered


def bare_subscriber(host: str, port: int, counter, ready) -> None:
    """A paho subscriber doing nothing but counting telemetry (QoS 1, automatic acknowledgements)."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare", clean_session=False)
    client.username_pw_set(PORTAL_USER, PORTAL_PASSWORD)

    def on_connect(c, userdata, flags, reason, properties):
        c.subscribe(subscription(Channel.TELEMETRY), qos=1)

    def on_message(c, userdata, message):
        counter.value += 1  # one writer: no lock needed

    client.on_connect = on_connect
    client.on_subscribe = lambda *args: ready.set()
    client.on_message = on_message
    client.connect(host, port)
    client.loop_forever()


def stored_count(engine) -> int:
    from portal.models import TelemetrySample

    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(TelemetrySample))


POSTGRES_ADMIN_URL = os.environ.get("UPSCONNECT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

def make_database(postgres: bool, folder: Path) -> tuple[str, str | None]:
    """(url, name to drop afterwards): a new SQLite file, or a new PostgreSQL database."""
    if not postgres:
        return f"sqlite:///{folder / 'bench.db'}", None
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(name: str | None) -> None:
    if name is None:
        return
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def start_broker(folder: Path, identities, max_inflight: int = 1000) -> tuple[PrivateMosquitto, str]:
    """A private Mosquitto knowing each device's login and the portal's user, started; and the portal's URL."""
    broker = PrivateMosquitto.for_factory(
        folder, [i.serial for i in identities], LAB_FACTORY_KEY,
        users={PORTAL_USER: PORTAL_PASSWORD}, max_inflight_messages=max_inflight,
    )  # fmt: skip
    broker.start()
    return broker, f"mqtt://{PORTAL_USER}:{PORTAL_PASSWORD}@{broker.host}:{broker.service_port}"


def prepare_database(url: str) -> None:
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "FACTORY_KEY": "bench"})
    with app.app_context():
        db.create_all()
        db.engine.dispose()


def start_ingest(
    db_url: str, mqtt_url: str, log_path: Path, *, options: tuple[str, ...] = (), env: dict[str, str] | None = None,
    append: bool = False,
) -> subprocess.Popen:
    """`flask ingest` on the bench's database and private Mosquitto, its output in ``log_path``
    (appended to when ``append``: a bench that restarts it keeps one log)."""
    environment = {
        **os.environ,
        "FLASK_APP": "portal",
        "UPSCONNECT_DATABASE_URL": db_url,
        "UPSCONNECT_MQTT_URL": mqtt_url,
        "UPSCONNECT_MQTT_BROKER_KIND": "mosquitto",
        "UPSCONNECT_SECRET_KEY": "bench",
        "UPSCONNECT_FACTORY_KEY": "bench",
        "UPSCONNECT_LAB_MODE": "0",
        **(env or {}),
    }
    command = [sys.executable, "-m", "flask", "ingest", "--client-id", "bench-ingest", "--stats-every-s", "5", *options]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=log_path.open("a" if append else "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def telemetry_sent(fleet: Fleet, devices: list[SimulatedDevice], seq0: int) -> int:
    """Telemetry published so far: every sequence number used, less the events."""
    return sum(d.seq for d in devices) - seq0 - fleet.events


def measure_rate(args, identities, rate: float, counter, engine) -> Row:
    """A fresh fleet at ``rate``: warm up, measure a window, pause, drain, count what never landed."""
    clock = SimClock(speed=1.0)  # a later start: sequence numbers continue above the last fleet's
    devices = [SimulatedDevice(i, seed=5, sim_start_s=clock.start_s) for i in identities]
    seq0 = sum(d.seq for d in devices)
    stored_before = stored_count(engine)
    interval_s = args.devices / rate
    fleet = Fleet(devices, args.endpoint, clock=clock, interval_s=interval_s, shards=args.shards)
    fleet.start()
    try:
        if not wait_for(lambda: fleet.connected_count() == args.devices, 30):
            raise SystemExit("the fleet did not connect")
        time.sleep(interval_s * 1.5)  # every device in its rhythm before measuring
        sent0, bare0, stored0 = telemetry_sent(fleet, devices, seq0), counter.value, stored_count(engine)
        time.sleep(args.measure)
        sent1, bare1, stored1 = telemetry_sent(fleet, devices, seq0), counter.value, stored_count(engine)
        fleet.interval_s = 3600.0  # pause: after the round already scheduled, the next tick is an hour away
        time.sleep(interval_s * 1.2)
        wait_for(lambda: fleet.acked >= fleet.published, 30)
        sent_total = telemetry_sent(fleet, devices, seq0)
        wait_for(lambda: stored_count(engine) - stored_before >= sent_total, args.drain)
        lost = max(0, sent_total - (stored_count(engine) - stored_before))
    finally:
        fleet.stop()
    offered = sent1 - sent0
    return Row(offered / args.measure, offered, bare1 - bare0, stored1 - stored0, lost)


def run(args: argparse.Namespace) -> list[Row]:
    identities = manufacture(args.devices, seed=5, factory_key=LAB_FACTORY_KEY)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        tmp_path = Path(tmp)
        db_url, created = make_database(args.postgres, tmp_path)
        prepare_database(db_url)
        engine = create_engine(db_url)
        broker, mqtt_url = start_broker(tmp_path / "mosquitto", identities, args.broker_inflight)
        args.endpoint = broker.endpoint()
        counter, ready = mp.Value("q", 0, lock=False), mp.Event()
        bare = mp.Process(
            target=bare_subscriber, args=(broker.host, broker.service_port, counter, ready), daemon=True
        )
        ingest = start_ingest(
            db_url, mqtt_url, tmp_path / "ingest.log",
            options=("--batch-size", str(args.batch_size), "--flush-ms", str(args.flush_ms)),
        )  # fmt: skip
        try:
            bare.start()
            log_path = tmp_path / "ingest.log"
            if not ready.wait(10) or not wait_for(lambda: "subscribed at QoS 1" in log_path.read_text(), 20):
                raise SystemExit(f"the consumers did not subscribe:\n{log_path.read_text()[-2000:]}")
            for rate in [float(r) for r in args.rates.split(",")]:
                row = measure_rate(args, identities, rate, counter, engine)
                rows.append(row)
                print(format_row(row), flush=True)
                if not row.sustained:
                    break
        finally:
            ingest.terminate()
            ingest.wait(30)
            bare.terminate()
            broker.stop()
            engine.dispose()
            drop_database(created)
    return rows


HEADER = f"{'offered msg/s':>13} {'offered':>8} {'bare received':>13} {'ingest stored':>13} {'ratio':>6} {'lost':>5}"


def format_row(row: Row) -> str:
    return (
        f"{row.offered_rate:>13.0f} {row.offered:>8} {row.bare:>13} {row.stored:>13} {row.ratio:>6.2f} {row.lost:>5}"
        + ("" if row.sustained else "  (not sustained)")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,2000,3000,4000,6000,8000", help="offered msg/s, in order")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--measure", type=float, default=10.0, help="seconds measured per rate")
    parser.add_argument(
        "--drain", type=float, default=20.0, help="seconds allowed to catch up after each rate"
    )
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--flush-ms", type=int, default=200)
    parser.add_argument("--broker-inflight", type=int, default=1000, help="Mosquitto max_inflight_messages")
    parser.add_argument(
        "--postgres", action="store_true",
        help="a fresh PostgreSQL database (UPSCONNECT_BENCH_POSTGRES_URL, default the local server) instead of SQLite",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if mosquitto_binary() is None:
        print("mosquitto is not installed; the benchmark needs it", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{args.devices} simulated devices, {args.measure:g} s per rate, {database}, Mosquitto on 127.0.0.1")
    print(HEADER, flush=True)
    rows = run(args)
    best = max((r for r in rows if r.sustained), key=lambda r: r.offered_rate, default=None)
    print(f"highest sustained: {best.offered_rate:.0f} msg/s" if best else "no rate sustained")
    first = rows[0] if rows else None
    return 0 if first is not None and first.lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
