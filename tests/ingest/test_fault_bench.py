"""The fault benchmark (`python -m bench fault`, docs/ingest.md) in a short version: a small fleet through
one broker restart and one ingest kill loses nothing, doubles nothing and raises no offline alert; with a
grace period shorter than the outage, the same run does alert (the count is live, not always 0)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devicelink.brokers import mosquitto_binary
from tests.ingest.conftest import ROOT

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed"),
]
SHORT = ["--devices", "12", "--rate", "6", "--duration", "16", "--broker-restarts", "1", "--ingest-kills", "1",
         "--broker-down", "3", "--ingest-down", "1", "--drain", "60"]  # fmt: skip


def _bench(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bench/fault_bench.py", *SHORT, *extra], cwd=ROOT, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip


def test_a_short_fault_run_loses_nothing_and_alerts_nobody():
    result = _bench()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broker stopped for 3 s" in result.stdout and "ingest killed (SIGKILL)" in result.stdout
    assert "0 lost, 0 duplicated, 0 spurious alerts" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("1 "))
    published, stored, lost, duplicated, offline, online = (int(v) for v in row.split()[1:7])
    assert published > 0 and stored == published and (lost, duplicated, offline, online) == (0, 0, 0, 0)


def test_the_alert_count_is_live_when_the_outage_outlasts_the_grace_period():
    result = _bench("--grace", "1.5", "--ingest-kills", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("1 "))
    assert int(row.split()[5]) > 0  # offline alerts were queued: the bench would see spurious ones
