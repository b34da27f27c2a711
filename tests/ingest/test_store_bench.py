"""bench/store_bench.py (docs/ingest.md) runs small, for real, on SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _postgres_reachable

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_store_benchmark_runs_small(database):
    if database == "postgres" and not _postgres_reachable():
        pytest.skip("no PostgreSQL server answering")
    args = ["--devices", "3", "--batch", "20", "--batches", "2", "--rounds", "2"] + (["--postgres"] if database == "postgres" else [])
    done = subprocess.run([sys.executable, "bench/store_bench.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    name = "PostgreSQL" if database == "postgres" else "SQLite"
    assert f"{name}, batches of 20 from 3 devices, 2 batches x 2 rounds" in done.stdout
    assert "ms per batch (median):  wall" in done.stdout
    assert done.stdout.count(",") >= 2  # one figure per round


@pytest.mark.parametrize(
    ("script", "flag"),
    [("bench/store_bench.py", "--batch"), ("bench/store_bench.py", "--rounds"), ("bench/partitions_bench.py", "--days")],
)
def test_a_bench_refuses_a_size_below_one_with_a_message(script, flag):
    done = subprocess.run([sys.executable, script, flag, "0"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "must each be at least 1" in done.stderr and "Traceback" not in done.stderr
