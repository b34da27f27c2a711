"""Fleet benchmark: N devices against a private Mosquitto on 127.0.0.1, one message per device per interval.

    .venv/bin/python bench/fleet_bench.py                  # N = 1000 and 10000, 30 s measured each
    .venv/bin/python bench/fleet_bench.py --sizes 1000 --measure 10

Reports connect time, sustained acknowledged messages/s, CPU % (of one core) and RSS of the fleet
process (this process), and Mosquitto's CPU %. Raises RLIMIT_NOFILE to the hard limit: each device
holds one socket, and Mosquitto (a child) inherits the limit. Stops by itself.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time

import psutil

from devicelink.brokers import PrivateMosquitto, mosquitto_binary  # noqa: E402
from devicelink.provisioning import LAB_FACTORY_KEY, manufacture  # noqa: E402
from simulator.device import SimulatedDevice  # noqa: E402
from simulator.fleet import Fleet, SimClock  # noqa: E402


def raise_open_file_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE up to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        print(
            f"warning: open-file limit {soft} is below the {needed} this run needs; "
            "raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit) first",
            file=sys.stderr,
        )
    return soft


def run(
    count: int, interval_s: float, measure_s: float, shards: int, connect_rate: float
) -> dict[str, float]:
    me = psutil.Process()
    identities = manufacture(count, seed=1, factory_key=LAB_FACTORY_KEY)
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as config_dir:
        broker = PrivateMosquitto.for_factory(config_dir, [i.serial for i in identities], LAB_FACTORY_KEY)
        broker.start()
        try:
            broker_proc = psutil.Process(broker.pid)
            clock = SimClock(speed=1.0)
            devices = [SimulatedDevice(i, seed=1, sim_start_s=clock.start_s) for i in identities]
            fleet = Fleet(
                devices,
                broker.endpoint(),
                clock=clock,
                interval_s=interval_s,
                shards=shards,
                connect_rate_per_s=connect_rate,
            )
            t0 = time.monotonic()
            fleet.start()
            deadline = t0 + 120 + count / connect_rate
            while fleet.connected_count() < count and time.monotonic() < deadline:
                time.sleep(0.05)
            connect_s = time.monotonic() - t0
            connected = fleet.connected_count()
            time.sleep(interval_s)  # let every device reach its steady one-per-interval rhythm
            cpu0, bcpu0, acked0, w0 = me.cpu_times(), broker_proc.cpu_times(), fleet.acked, time.monotonic()
            time.sleep(measure_s)
            cpu1, bcpu1, acked1, w1 = me.cpu_times(), broker_proc.cpu_times(), fleet.acked, time.monotonic()
            rss_mb = me.memory_info().rss / 2**20
            fleet.stop()
        finally:
            broker.stop()
    elapsed = w1 - w0
    return {
        "devices": count,
        "connected": connected,
        "connect_s": connect_s,
        "msg_per_s": (acked1 - acked0) / elapsed,
        "target_msg_per_s": count / interval_s,
        "cpu_percent": 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / elapsed,
        "rss_mb": rss_mb,
        "broker_cpu_percent": 100 * ((bcpu1.user + bcpu1.system) - (bcpu0.user + bcpu0.system)) / elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated fleet sizes")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between a device's messages")
    parser.add_argument("--measure", type=float, default=30.0, help="seconds of steady state measured")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--connect-rate", type=float, default=1000.0)
    args = parser.parse_args(argv)
    if mosquitto_binary() is None:
        print("mosquitto is not installed; the benchmark needs it", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    sizes = [int(s) for s in args.sizes.split(",")]
    limit = raise_open_file_limit(max(sizes) + 200)
    print(
        f"open-file limit {limit}; {psutil.cpu_count()} CPUs; interval {args.interval:g} s; measured {args.measure:g} s"
    )
    rows = []
    for count in sizes:
        print(f"running {count} devices ...", flush=True)
        rows.append(run(count, args.interval, args.measure, args.shards, args.connect_rate))
    header = f"{'devices':>8} {'connected':>9} {'connect s':>9} {'msg/s':>8} {'target':>7} {'CPU %':>6} {'RSS MB':>7} {'broker CPU %':>12}"
    print(header)
    for r in rows:
        print(
            f"{r['devices']:>8} {r['connected']:>9} {r['connect_s']:>9.1f} {r['msg_per_s']:>8.1f} "
            f"{r['target_msg_per_s']:>7.0f} {r['cpu_percent']:>6.1f} {r['rss_mb']:>7.0f} {r['broker_cpu_percent']:>12.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
