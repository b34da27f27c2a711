"""`make bench`: every benchmark in one run, each printing its own table of figures.

`python -m bench fleet|ingest|reports|dashboard` runs one of them.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "dashboard": "bench.dashboard_bench",  # 10,000 devices in the database: page and partial p95
    "reports": "bench.reports_bench",  # 10,000-device CSV and XLSX exports: seconds and peak memory
    "ingest": "bench.ingest_bench",  # ingest vs a bare subscriber on the same stream
    "fleet": "bench.fleet_bench",  # 1k and 10k simulated devices against Mosquitto
}


def main(argv: list[str]) -> int:
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


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
