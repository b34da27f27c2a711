"""``python -m devicelink.nut_bridge`` as a process: clear refusals of bad input, and reconnecting to upsd by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from devicelink.brokers import EmbeddedBroker
from devicelink.provisioning import device_password
from tests.support.nut_upsd import SMT750_DUMP, DummyUpsd, missing_reason
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
KEY = b"agent-test-factory-key"
SERIAL = "AS1316113420"


def run_agent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devicelink.nut_bridge", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, env={**os.environ, **(env or {})})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--broker", "mqtt://127.0.0.1:1", "--upsd", "127.0.0.1:99999"], "a port from 1 to 65535"),
        (["--broker", "http://127.0.0.1", "--upsd", "127.0.0.1"], "the scheme must be mqtt:// or mqtts://"),
        (["--broker", "mqtt://127.0.0.1:1", "--upsd", "127.0.0.1", "--interval", "0"], "--interval must be between"),
        (["--broker", "mqtt://127.0.0.1:1"], "--upsd"),
    ],
)
def test_bad_flags_are_refused_with_a_message(args, message):
    result = run_agent(*args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_agent_that_is_not_enrolled_says_what_to_do(tmp_path):
    common = ["--broker", "mqtt://127.0.0.1:1", "--upsd", "127.0.0.1", "--state-file", str(tmp_path / "s.json")]
    result = run_agent(*common, env={"UPSCONNECT_BRIDGE_TOKEN": ""})
    assert result.returncode == 2 and "not enrolled yet" in result.stderr and "--portal" in result.stderr
    state = tmp_path / "s.json"
    state.write_text("{}")
    state.chmod(0o644)
    result = run_agent(*common)
    assert result.returncode == 2 and "readable by others" in result.stderr


def test_a_refused_token_is_reported_plainly(tmp_path, httpserver):
    httpserver.expect_request("/api/bridges/enrol", method="POST").respond_with_json(
        {"error": "This enrolment token is not valid: it was mistyped, already used, or has expired."}, status=403
    )
    result = run_agent("--portal", httpserver.url_for("/").rstrip("/"), "--broker", "mqtt://127.0.0.1:1",
                       "--upsd", "127.0.0.1", "--state-file", str(tmp_path / "s.json"),
                       env={"UPSCONNECT_BRIDGE_TOKEN": "nbe_used_token_here"})
    assert result.returncode == 2
    assert "the portal refused: This enrolment token is not valid" in result.stderr
    assert not (tmp_path / "s.json").exists()


@pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")
@pytest.mark.timeout(120)
def test_the_agent_survives_upsd_going_away_and_coming_back(tmp_path):
    states: list[str] = []
    seen = threading.Event()
    broker = EmbeddedBroker(users={"portal": "portal-pass"}, factory_key=KEY)
    broker.start()
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.username_pw_set("portal", "portal-pass")
    watcher.on_connect = lambda c, *a: c.subscribe([(f"ups/{SERIAL}/state", 1), (f"ups/{SERIAL}/telemetry", 1)])

    def on_message(client, userdata, message):
        if message.topic.endswith("/state"):
            states.append(message.payload.decode())
        else:
            seen.set()

    watcher.on_message = on_message
    watcher.connect("127.0.0.1", broker.service_port)
    watcher.loop_start()
    # An enrolled agent's state file: its UPS's login came from the portal on an earlier run.
    state = tmp_path / "bridge.json"
    state.write_text(json.dumps({"portal": "http://portal.invalid", "bridge_id": "b1", "secret": "nbs_x",
                                 "devices": {SERIAL: {"password": device_password(KEY, SERIAL)}}}))
    state.chmod(0o600)
    upsd = DummyUpsd(tmp_path / "upsd", {"smt750": SMT750_DUMP}, "[u]\n password = p\n").start()
    agent = subprocess.Popen(
        [sys.executable, "-m", "devicelink.nut_bridge", "--broker", f"mqtt://127.0.0.1:{broker.port}",
         "--upsd", f"127.0.0.1:{upsd.port}", "--state-file", str(state), "--interval", "0.5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        wait_until(lambda: seen.is_set() and states[-1:] == ["online"], 30, "the UPS on line with telemetry")
        upsd.stop()
        wait_until(lambda: states[-1:] == ["lost"], 30, "the UPS lost while upsd is down")
        assert agent.poll() is None, "the agent keeps running without upsd"
        upsd.start()
        wait_until(lambda: states[-1:] == ["online"], 60, "the UPS back on line once upsd returns")
        agent.send_signal(signal.SIGTERM)
        output, _ = agent.communicate(timeout=10)
        assert agent.returncode == 0
        assert "retrying in" in output
        wait_until(lambda: states[-1:] == ["lost"], 10, "a stopped agent's UPS lost")
    finally:
        if agent.poll() is None:
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait(5)
        upsd.stop()
        watcher.loop_stop()
        watcher.disconnect()
        broker.stop()
