"""The recipes of docs/nut.md, run as written (with PORT set to a free port)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devicelink.brokers import free_port
from devicelink.provisioning import FACTORY_KEY_ENV

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "nut.md"
pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]


def recipe(title: str) -> str:
    text = DOC.read_text()
    match = re.search(rf"^### {re.escape(title)}\n.*?```sh\n(.*?)```", text, re.S | re.M)
    assert match, f"no sh block under '### {title}' in docs/nut.md"
    return match.group(1)


def run_recipe(script: str, cwd: Path, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FACTORY_KEY_ENV}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env["PORT"] = str(free_port())
    proc = subprocess.Popen(
        ["bash", "-eu", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    finally:
        # the recipe ends its own processes; anything left in its group is a failure, then killed
        leftovers = _group_alive(proc.pid)
        if leftovers:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert not leftovers, "the recipe left processes running"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _group_alive(pgid: int, grace_s: float = 10.0) -> bool:
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


def _need(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"NUT programs not installed: {', '.join(missing)} (apt-get install nut-client)")


def test_read_the_lab_with_upsc(tmp_path):
    _need("upsc")
    result = run_recipe(recipe("Read the lab with upsc"), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] in {"OL", "OL CHRG"}
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert set(fields) == {"battery.charge", "device.serial", "ups.model"}


def test_upsmon_shutdown_against_the_lab(tmp_path):
    _need("upsc")
    if not os.access("/lib/nut/upsmon", os.X_OK):
        pytest.skip("upsmon is not installed at /lib/nut/upsmon (apt-get install nut-client)")
    if os.geteuid() != 0:
        pytest.skip("the recipe runs upsmon privileged (-p), as root")
    result = run_recipe(recipe("Test upsmon shutdown against the lab"), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + (tmp_path / "upsmon.log").read_text()[-3000:]
    assert (tmp_path / "shutdown").exists()
    assert result.stdout.strip().startswith("FSD ")
