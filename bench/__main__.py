"""`make bench`: every benchmark in one run, each printing its own table of figures.

`python -m bench fleet|ingest|reports|dashboard|fault|stack` runs one of them; options after a single
name go to that benchmark (`python -m bench stack --devices 50 --duration 10`).
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "dashboard": "bench.dashboard_bench",  # 10,000 devices in the database: page and partial p95
    "reports": "bench.reports_bench",  # 10,000-device CSV and XLSX exports: seconds and peak memory
    "ingest": "bench.ingest_bench",  # ingest vs a bare subscriber on the same stream
    "fleet": "bench.fleet_bench",  # 1k and 10k simulated devices against Mosquitto
    "fault": "bench.fault_bench",  # 1k devices through broker restarts and ingest kills: lost, doubled, alerts
    "stack": "bench.stack_bench",  # fleet + broker + ingest + gunicorn in one run: latencies, lag, CPU, RSS
}


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[0] in BENCHMARKS and argv[1].startswith("-"):
        return _run_one(argv[0], argv[1:])
    if {"-h", "--help"} & set(argv):
        print(f"usage: python -m bench [{'|'.join(BENCHMARKS)} ...]  (none: all of them)")
        return 0
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failures = 0
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(BENCHMARKS[name])
        sys.argv = [BENCHMARKS[name]]
        result = module.main()
        failures += 1 if result else 0
    return 1 if failures else 0


def _run_one(name: str, options: list[str]) -> int:
    """One benchmark with its own options (its --help included)."""
    module = importlib.import_module(BENCHMARKS[name])
    sys.argv = [BENCHMARKS[name], *options]
    return int(module.main() or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
