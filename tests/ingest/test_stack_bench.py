"""The whole-stack benchmark (`python -m bench stack`, docs/scaling.md) in a tiny run through its CLI: fleet,
Mosquitto, ingest and gunicorn start, every request kind is answered, nothing is lost, every figure is printed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devicelink.brokers import mosquitto_binary
from tests.ingest.conftest import ROOT

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed"),
]
TINY = ["--devices", "50", "--rate", "25", "--duration", "10", "--runs", "1", "--web-workers", "2"]
KINDS = ["dashboard page", "table partial", "filtered partial", "sorted partial, page 1", "device page"]
PROCESSES = ["bench (fleet + browser)", "mosquitto", "ingest", "web (2 workers)"]


def figures(stdout: str) -> dict[str, float]:
    """The table's rows: label -> the run's value."""
    rows = {}
    for line in stdout.splitlines():
        label, _, value = line.rpartition(" ")
        try:
            rows[label.strip()] = float(value)
        except ValueError:
            continue
    return rows


def test_a_tiny_whole_stack_run_answers_every_request_kind_and_loses_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "bench", "stack", *TINY], cwd=ROOT, capture_output=True, text=True, timeout=220
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 lost, 0 failed requests: every message stored" in result.stdout
    rows = figures(result.stdout)
    for kind in KINDS:
        assert 0 < rows[f"{kind} p50 ms"] <= rows[f"{kind} p95 ms"] < 10_000, (kind, result.stdout)
    for process in PROCESSES:
        assert rows[f"{process} CPU %"] >= 0 and rows[f"{process} RSS MB"] > 1, (process, result.stdout)
    assert rows["ingest CPU %"] > 0 and rows["web (2 workers) CPU %"] > 0, result.stdout  # they did work
    assert 0 <= rows["ingest lag p50 s"] <= rows["ingest lag p95 s"] < 10, result.stdout
    assert rows["telemetry published"] >= 25 * 10 * 0.8 and rows["lost messages"] == 0
    assert rows["requests answered"] >= 30 and rows["failed requests"] == 0


def test_its_options_are_its_own():
    result = subprocess.run(
        [sys.executable, "-m", "bench", "stack", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "--postgres" in result.stdout and "--web-workers" in result.stdout
