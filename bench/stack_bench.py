"""Whole-stack benchmark: fleet, broker, ingest and the web app under gunicorn, in one run.

    .venv/bin/python -m bench stack                                   # 2,000 devices, 200 msg/s, 60 s, 3 runs
    .venv/bin/python -m bench stack --devices 50 --rate 25 --duration 10 --runs 1
    .venv/bin/python -m bench stack --postgres                        # the same on a fresh PostgreSQL database

N claimed devices of one company (Standard plan) publish telemetry at QoS 1 to a private Mosquitto at
``--rate`` messages a second in all; one ``flask ingest`` stores it; gunicorn (``--web-workers``) serves
the portal on the same database, and one signed-in user requests, in turn and ``--web-rate`` times a
second, the dashboard page, its table partial, a filtered partial, a sorted partial deep in the pages
and a device page. Measured over ``--duration`` seconds: p50/p95 per request kind, ingest lag (a
sample passing the broker, seen by a bare subscriber, to the ingest batch that stored it, read from each
device's latest-status row once a second), and CPU % (of one core) and RSS of each process. Then the fleet pauses, ingest
drains, and what was published but never stored is "lost". With ``--runs`` > 1: min / median / max.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import itertools
import json
import logging
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.fault_bench import populate, start_ingest  # noqa: E402
from bench.ingest_bench import (  # noqa: E402
    PORTAL_PASSWORD,
    PORTAL_USER,
    drop_database,
    make_database,
    prepare_database,
    start_broker,
    telemetry_sent,
    wait_for,
)
from devicelink.brokers import free_port, mosquitto_binary  # noqa: E402
from devicelink.contract import Channel, parse_topic, subscription  # noqa: E402
from devicelink.provisioning import LAB_FACTORY_KEY, manufacture  # noqa: E402
from simulator.device import SimulatedDevice  # noqa: E402
from simulator.fleet import Fleet, SimClock  # noqa: E402

BENCH_EMAIL, BENCH_PASSWORD = "faults@bench.example", "bench password 1"  # populate()'s user
PAGE_SIZE = 25  # the dashboard's page


class _KeepStatus(urllib.request.HTTPErrorProcessor):
    def http_response(self, request, response):
        return response

    https_response = http_response


class Browser:
    """One signed-in user over HTTP, cookies kept; each request on its own connection."""

    def __init__(self, base: str) -> None:
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _KeepStatus())

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        with self.opener.open(request, timeout=60) as response:
            return response.status, response.read()

    def sign_in(self, email: str, password: str) -> None:
        _, body = self.get("/login")
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)
        if token is None:
            raise SystemExit("the sign-in page has no CSRF token")
        form = urllib.parse.urlencode({"csrf_token": token.group(1).decode(), "email": email, "password": password})
        with self.opener.open(urllib.request.Request(self.base + "/login", data=form.encode()), timeout=60) as r:
            if r.status != 302:
                raise SystemExit(f"the bench user could not sign in (HTTP {r.status})")


def request_kinds(devices: int) -> list[tuple[str, str, dict[str, str]]]:
    """(label, path, headers): what one user's browser asks for, the device page on a random device."""
    partial = {"HX-Request": "true"}
    deep = max(1, (devices // PAGE_SIZE) * 4 // 5)  # a page near the end of the table
    return [
        ("dashboard page", "/dashboard", {}),
        ("table partial", "/dashboard", partial),
        ("filtered partial", "/dashboard?mode=on_battery", partial),
        (f"sorted partial, page {deep}", f"/dashboard?sort=-load&page={deep}", partial),
        ("device page", "/devices/{device}", {}),
    ]


def start_web(db_url: str, port: int, workers: int, instance: Path, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "UPSCONNECT_DATABASE_URL": db_url,
        "UPSCONNECT_INSTANCE_PATH": str(instance),
        "UPSCONNECT_SECRET_KEY": "bench",
        "UPSCONNECT_FACTORY_KEY": "bench",
        "UPSCONNECT_LAB_MODE": "0",
        "UPSCONNECT_RATELIMIT_ENABLED": "0",
    }
    env.pop("UPSCONNECT_MQTT_URL", None)
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "portal:create_app()"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class Processes:
    """CPU time and RSS of the stack's processes, a group (gunicorn and its workers) counted as one."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = {name: psutil.Process(pid) for name, pid in groups.items()}
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def _members(self, name: str) -> list[psutil.Process]:
        root = self.groups[name]
        return [root] if name == "bench (fleet + browser)" else [root, *root.children(recursive=True)]

    def _cpu(self, name: str) -> float:
        total = 0.0
        for proc in self._members(name):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._start = {name: self._cpu(name) for name in self.groups}

    def figures(self) -> dict[str, float]:
        elapsed = time.monotonic() - self._t0
        out: dict[str, float] = {}
        for name in self.groups:
            out[f"{name} CPU %"] = 100 * (self._cpu(name) - self._start[name]) / elapsed
            rss = 0
            for proc in self._members(name):
                with contextlib.suppress(psutil.NoSuchProcess):
                    rss += proc.memory_info().rss
            out[f"{name} RSS MB"] = rss / 2**20
        return out


class Passed:
    """A bare subscriber on the telemetry stream: when each (serial, seq) passed the broker, wall clock."""

    def __init__(self, broker) -> None:
        import paho.mqtt.client as mqtt

        self.at: dict[tuple[str, int], float] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="stack-bench-watch")
        self.client.username_pw_set(PORTAL_USER, PORTAL_PASSWORD)
        self.client.on_connect = lambda c, *_: c.subscribe(subscription(Channel.TELEMETRY), qos=0)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.service_port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        parsed = parse_topic(message.topic)
        if parsed is not None:
            self.at[(parsed[0], json.loads(message.payload)["seq"])] = time.time()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def sample_lag(engine, passed: Passed, stop: threading.Event, lags: list[float]) -> None:
    """Once a second, each device row whose newest sample changed since the last look: its batch time minus
    when that sample passed the broker (ingest reads the system clock once per batch, before writing it).

    A row touched without a new sample (an event, a state message also move ``last_seen_at``) is skipped:
    its ``last_seen_at`` is not that sample's.
    """
    since = datetime.now(UTC).replace(tzinfo=None)
    newest: dict[str, int] = {}
    query = text(
        "SELECT d.serial, s.last_seq, s.last_seen_at FROM device_status s JOIN devices d ON d.id = s.device_id "
        "WHERE s.last_seen_at > :since"
    )
    while not stop.wait(1.0):
        with engine.connect() as conn:
            rows = conn.execute(query, {"since": since}).all()
        for serial, seq, seen in rows:
            seen = _as_datetime(seen)
            since = max(since, seen)
            if newest.get(serial) == seq:
                continue
            newest[serial] = seq
            passed_at = passed.at.get((serial, seq))
            if passed_at is not None:
                lags.append(seen.replace(tzinfo=UTC).timestamp() - passed_at)


def _as_datetime(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def percentile(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def browse(browser: Browser, kinds, devices: int, rate: float, stop: threading.Event, times) -> None:
    """Request each kind in turn, ``rate`` requests a second, until stopped; failures are counted."""
    rng = random.Random(3)
    next_at = time.monotonic()
    for label, path, headers in itertools.cycle(kinds):
        if stop.is_set():
            return
        started = time.perf_counter()
        try:
            status, _ = browser.get(path.format(device=rng.randint(1, devices)), headers)
        except OSError:
            status = 0
        elapsed_ms = (time.perf_counter() - started) * 1000
        times[label if status == 200 else "failed requests"].append(elapsed_ms)
        next_at += 1 / rate
        stop.wait(max(0.0, next_at - time.monotonic()))




def one_run(args: argparse.Namespace, number: int) -> dict[str, float]:
    identities = manufacture(args.devices, seed=80 + number, factory_key=LAB_FACTORY_KEY)
    kinds = request_kinds(args.devices)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="stack-bench-") as tmp:
        tmp_path = Path(tmp)
        db_url, created = make_database(args.postgres, tmp_path)
        broker = ingest = web = fleet = engine = passed = None
        stop = threading.Event()
        try:
            prepare_database(db_url)
            populate(db_url, identities)
            engine = create_engine(db_url)
            broker, mqtt_url = start_broker(tmp_path / "mosquitto", identities)
            ingest_log = tmp_path / "ingest.log"
            ingest = start_ingest(db_url, mqtt_url, ingest_log, 300.0)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            web = start_web(db_url, port, args.web_workers, tmp_path / "instance", tmp_path / "web.log")
            if not wait_for(lambda: "subscribed at QoS 1" in ingest_log.read_text(), 60):
                raise SystemExit(f"ingest did not subscribe:\n{ingest_log.read_text()[-2000:]}")
            if not wait_for(lambda: _answers(base), 90):
                raise SystemExit(f"the web app did not answer:\n{(tmp_path / 'web.log').read_text()[-2000:]}")
            passed = Passed(broker)
            clock = SimClock(speed=1.0)
            devices = [SimulatedDevice(i, seed=5, sim_start_s=clock.start_s) for i in identities]
            seq0 = sum(d.seq for d in devices)
            interval_s = args.devices / args.rate
            fleet = Fleet(devices, broker.endpoint(), clock=clock, interval_s=interval_s, shards=args.shards)
            fleet.start()
            if not wait_for(lambda: fleet.connected_count() == args.devices, 120):
                raise SystemExit("the fleet did not connect")
            time.sleep(min(interval_s * 1.2, 30))  # every device in its rhythm, every status row written once
            if args.postgres:
                # A database that has been running has planner statistics (autovacuum keeps them); one
                # filled a minute ago may not yet, and its plans are then not what a user meets.
                with engine.connect() as conn:
                    conn.execute(text("ANALYZE"))
                    conn.commit()
            browser = Browser(base)
            browser.sign_in(BENCH_EMAIL, BENCH_PASSWORD)
            for _, path, headers in kinds:  # warm each worker's caches a little
                browser.get(path.format(device=1), headers)
            processes = Processes({
                "bench (fleet + browser)": os.getpid(), "mosquitto": broker.pid, "ingest": ingest.pid,
                f"web ({args.web_workers} workers)": web.pid,
            })  # fmt: skip
            times: dict[str, list[float]] = defaultdict(list)
            lags: list[float] = []
            threads = [
                threading.Thread(target=browse, args=(browser, kinds, args.devices, args.web_rate, stop, times)),
                threading.Thread(target=sample_lag, args=(engine, passed, stop, lags)),
            ]
            processes.start()
            for thread in threads:
                thread.start()
            time.sleep(args.duration)
            stop.set()
            for thread in threads:
                thread.join(90)
            figures.update(processes.figures())
            fleet.interval_s = 3600.0  # pause: the round already scheduled goes, then nothing for an hour
            time.sleep(min(interval_s * 1.2, 30))
            wait_for(lambda: fleet.acked >= fleet.published, 60)
            published = telemetry_sent(fleet, devices, seq0)
            stored_sql = "SELECT count(*) FROM telemetry_samples"

            def stored() -> int:
                with engine.connect() as conn:
                    return int(conn.execute(text(stored_sql)).scalar() or 0)

            wait_for(lambda: stored() >= published, args.drain)
            for label, _, _ in kinds:
                figures[f"{label} p50 ms"] = percentile(times[label], 50)
                figures[f"{label} p95 ms"] = percentile(times[label], 95)
            figures["requests answered"] = sum(len(times[label]) for label, _, _ in kinds)
            figures["failed requests"] = len(times["failed requests"])
            figures["ingest lag p50 s"] = percentile(lags, 50)
            figures["ingest lag p95 s"] = percentile(lags, 95)
            figures["telemetry published"] = published
            figures["lost messages"] = max(0, published - stored())
        finally:
            stop.set()
            if fleet is not None:
                fleet.stop()
            if passed is not None:
                passed.close()
            _stop(web)
            _stop(ingest)
            if broker is not None:
                broker.stop()
            if engine is not None:
                engine.dispose()
            drop_database(created)
    return figures


def format_table(runs: list[dict[str, float]]) -> list[str]:
    names = list(runs[0])
    columns = [f"run {n}" for n in range(1, len(runs) + 1)] + (["min", "median", "max"] if len(runs) > 1 else [])
    width = max(len(name) for name in names)
    lines = [f"{'':<{width}} " + " ".join(f"{c:>9}" for c in columns)]
    for name in names:
        values = [run[name] for run in runs]
        shown = values + ([min(values), statistics.median(values), max(values)] if len(runs) > 1 else [])
        lines.append(f"{name:<{width}} " + " ".join(f"{v:>9.{0 if v >= 100 else 2}f}" for v in shown))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="telemetry messages per second, whole fleet")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; more than one prints min / median / max")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--web-rate", type=float, default=5.0, help="page and partial requests per second")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds allowed to store the backlog")
    parser.add_argument("--shards", type=int, default=2, help="fleet loop threads")
    parser.add_argument("--postgres", action="store_true",
                        help="a fresh PostgreSQL database (UPSCONNECT_BENCH_POSTGRES_URL, default the local "
                             "server) instead of SQLite")  # fmt: skip
    args = parser.parse_args(argv)
    if mosquitto_binary() is None:
        print("mosquitto is not installed; the benchmark needs it", file=sys.stderr)
        return 2
    if args.devices < 1 or args.rate <= 0 or args.duration <= 0 or args.runs < 1:
        parser.error("--devices, --rate, --duration and --runs must be above 0")
    logging.basicConfig(level=logging.WARNING)
    print(f"{args.devices} devices at {args.rate:g} msg/s for {args.duration:g} s, {args.web_rate:g} web requests/s "
          f"on {args.web_workers} gunicorn workers; {'PostgreSQL' if args.postgres else 'SQLite'}, Mosquitto "
          f"on 127.0.0.1; {psutil.cpu_count()} CPUs", flush=True)  # fmt: skip
    runs = []
    for number in range(1, args.runs + 1):
        runs.append(one_run(args, number))
        print(f"run {number} done", flush=True)
    for line in format_table(runs):
        print(line)
    lost = sum(run["lost messages"] for run in runs)
    failed = sum(run["failed requests"] for run in runs)
    print(f"{lost:.0f} lost, {failed:.0f} failed requests" + ("" if lost or failed else ": every message stored"))
    return 1 if lost or failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
