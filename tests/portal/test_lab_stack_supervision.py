"""`make run` (python -m portal.lab_stack) supervises its children: a worker killed with SIGKILL is back
within 10 s and the log says so; Ctrl-C still stops everything; every child links to the stack's port.
Also: the simulator fleet stops within seconds on SIGTERM with its broker gone."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children_named(stack: psutil.Process, words: str) -> list[psutil.Process]:
    found = []
    for child in stack.children(recursive=True):
        try:
            if words in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def lab_stack(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSCONNECT_", "FLASK_"))}
    env.update(UPSCONNECT_INSTANCE_PATH=str(tmp_path / "instance"), UPSCONNECT_LAB_MODE="1", FLASK_APP="portal")
    output = (tmp_path / "stack.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.lab_stack", "--port", str(port), "--devices", "2", "--interval", "2"],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    proc.port, proc.log_path = port, tmp_path / "stack.log"
    try:
        yield proc
    finally:
        if proc.poll() is None:  # the test failed half-way: stop the stack as Ctrl-C would, then make sure
            family = psutil.Process(proc.pid).children(recursive=True)  # (its broker has a session of its own)
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            for process in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
        output.close()


def test_a_killed_worker_is_restarted_within_10_s_and_ctrl_c_stops_everything(lab_stack):
    wait_until(lambda: _answers(f"http://127.0.0.1:{lab_stack.port}/healthz"), 90, "the portal to answer /healthz")
    stack = psutil.Process(lab_stack.pid)
    [notify] = wait_until(lambda: _children_named(stack, "flask notify"), 10, "the notify worker")
    assert notify.environ()["UPSCONNECT_PUBLIC_URL"] == f"http://127.0.0.1:{lab_stack.port}"  # links name this port

    for worker in ("flask notify", "flask ingest", "simulator fleet"):
        [before] = _children_named(stack, worker)
        killed_at = time.monotonic()
        before.kill()
        [after] = wait_until(
            lambda w=worker, b=before: [c for c in _children_named(stack, w) if c.pid != b.pid], 10, f"{worker} back"
        )
        assert time.monotonic() - killed_at < 10
        assert after.is_running()
    log = lab_stack.log_path.read_text()
    for name in ("notify", "ingest", "fleet"):
        assert f"{name} exited (killed by SIGKILL)" in log and f"{name} restarted (restart 1," in log
    assert _answers(f"http://127.0.0.1:{lab_stack.port}/healthz")  # the portal never went down

    everything = [stack, *stack.children(recursive=True)]
    os.killpg(lab_stack.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
    assert lab_stack.wait(20) == 0
    gone, alive = psutil.wait_procs(everything, timeout=10)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    assert "upsconnect stopped." in lab_stack.log_path.read_text()


def test_sigterm_stops_the_stack_and_every_child(lab_stack):
    wait_until(lambda: _answers(f"http://127.0.0.1:{lab_stack.port}/healthz"), 90, "the portal to answer /healthz")
    stack = psutil.Process(lab_stack.pid)
    everything = [stack, *stack.children(recursive=True)]
    started = time.monotonic()
    lab_stack.send_signal(signal.SIGTERM)  # to the supervisor only, as a service manager does
    assert lab_stack.wait(15) == 0
    _, alive = psutil.wait_procs(everything, timeout=5)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    assert time.monotonic() - started < 10


def test_the_fleet_stops_within_seconds_on_sigterm_with_its_broker_gone(tmp_path):
    env = {**os.environ, "UPSCONNECT_FACTORY_KEY": "test-factory-key"}
    fleet = subprocess.Popen(
        [sys.executable, "-m", "simulator", "fleet", "--count", "3", "--broker", f"mqtt://127.0.0.1:{_free_port()}",
         "--control-port", str(_free_port())],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(4)  # starting, then reconnecting to nobody
        assert fleet.poll() is None, fleet.stderr.read()
        started = time.monotonic()
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(10)
        assert time.monotonic() - started < 5
    finally:
        if fleet.poll() is None:
            fleet.kill()
            fleet.wait(10)
        fleet.stderr.close()
