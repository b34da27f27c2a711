"""Signed-in pages are never cached, and no secret of the lab travels on a command line.

The routes come from the app's url_map; the lab is the real `portal.lab_stack` (what `make run` starts),
its children's command lines read from /proc.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from devicelink.provisioning import claim_code
from portal.extensions import db
from portal.models import CompanyKind
from portal.services.alerts import policies
from portal.services.clock import clock
from simulator import cli as simulator_cli
from tests.portal.factories import login, make_device, make_user

ROOT = Path(__file__).resolve().parents[2]


def _get_urls(app, values: dict[str, object]) -> list[str]:
    """One URL per GET rule of the app (static aside), arguments filled from `values` or a placeholder."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(values.get(name, 1))).replace(f"<{name}>", str(values.get(name, "x")))
        urls.append(path)
    return urls


@pytest.mark.parametrize("kind", [CompanyKind.CUSTOMER, CompanyKind.PARTNER])
def test_every_signed_in_get_route_is_no_store(app, client, kind):
    user = make_user(kind)
    device = make_device(user)
    policy = policies.create_policy(
        user,
        policies.PolicyInput(name="P", description="", event_types=["on_battery"], severities=["warning"],
                             email_recipients=user.email),
        now=clock().now(),
    )
    db.session.commit()
    login(client, user)
    urls = _get_urls(app, {"device_id": device.id, "policy_id": policy.id})
    assert len(urls) >= 40  # every GET route of the portal, not a hand-picked few
    missing = {}
    for url in urls:
        response = client.get(url)
        if response.headers.get("Cache-Control") != "no-store":
            missing[url] = (response.status_code, response.headers.get("Cache-Control"))
    assert not missing


def test_signed_out_pages_and_static_files_keep_their_caching(app, client):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    user = make_user()
    login(client, user)
    static = client.get("/static/css/notifications.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")


# ---------------------------------------------------------------- secrets and command lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_the_lab_stack_puts_no_secret_on_a_command_line(tmp_path):
    """`make run` starts the web, workers, broker and a simulated fleet: no child's argv holds a secret."""
    instance = tmp_path / "instance"
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("UPSCONNECT_")},
        "UPSCONNECT_INSTANCE_PATH": str(instance),
        "UPSCONNECT_LAB_MODE": "1",
    }
    lab = subprocess.Popen(
        [sys.executable, "-m", "portal.lab_stack", "--port", str(port), "--devices", "2", "--interval", "5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        fleet = None
        while time.monotonic() < deadline and fleet is None:
            assert lab.poll() is None, lab.stdout.read().decode(errors="replace")
            for child in _descendants(lab.pid):
                try:
                    if "simulator" in child.cmdline() and "fleet" in child.cmdline():
                        fleet = child
                except psutil.NoSuchProcess:
                    continue
            time.sleep(0.5)
        assert fleet is not None, "the lab started no simulated fleet"
        factory_key = (instance / "factory_key").read_text().strip()
        secrets = {
            "factory key": factory_key,
            "portal MQTT password": (instance / "mqtt_portal_password").read_text().strip(),
        }
        children = _descendants(lab.pid)
        assert len(children) >= 4  # ingest, notify, fleet, web (and the broker when mosquitto is installed)
        for child in children:
            try:
                argv = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            for name, secret in secrets.items():
                assert secret not in argv, f"the {name} is on the command line of {argv[:120]}"
        # the fleet still gets the key, by its environment (readable by its own user only)
        assert fleet.environ().get("UPSCONNECT_FACTORY_KEY") == factory_key
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
        lab.stdout.close()


def _manufacture(capsys, *args: str) -> tuple[int, str, str]:
    code = simulator_cli.main(["manufacture", "--count", "2", "--seed", "4", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_simulator_reads_the_factory_key_from_a_private_file(tmp_path, capsys):
    key_file = tmp_path / "factory_key"
    key_file.write_text("a-factory-key\n")
    key_file.chmod(0o600)
    code, out, _ = _manufacture(capsys, "--factory-key-file", str(key_file))
    assert code == 0
    rows = json.loads(out)
    assert all(row["claim_code"] == claim_code(b"a-factory-key", row["serial"]) for row in rows)


def test_a_factory_key_file_readable_by_others_is_refused(tmp_path, capsys):
    key_file = tmp_path / "factory_key"
    key_file.write_text("a-factory-key\n")
    key_file.chmod(0o644)
    code, out, err = _manufacture(capsys, "--factory-key-file", str(key_file))
    assert code == 2 and out == ""
    assert "readable by others (mode 644): chmod 600 it" in err


def test_the_simulator_takes_no_factory_key_on_its_command_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        simulator_cli.main(["manufacture", "--factory-key", "a-factory-key"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "mode", "refusal"),
    [
        ("portal:a-password", 0o640, "readable by others (mode 640): chmod 600 it"),
        ("portal-without-password", 0o600, "must hold NAME:PASSWORD"),
        ("", 0o600, "is empty"),
    ],
)
def test_the_fleet_reads_its_portal_user_from_a_private_file(tmp_path, capsys, content, mode, refusal):
    user_file = tmp_path / "portal_user"
    user_file.write_text(content)
    user_file.chmod(mode)
    code = simulator_cli.main(["fleet", "--count", "1", "--broker", "embedded", "--portal-user-file", str(user_file)])
    assert code == 2 and refusal in capsys.readouterr().err


def test_a_private_portal_user_file_is_used(tmp_path):
    user_file = tmp_path / "portal_user"
    user_file.write_text("portal:a-password\n")
    user_file.chmod(0o600)
    command = [sys.executable, "-m", "simulator", "fleet", "--count", "1", "--broker", "embedded",
               "--portal-user-file", str(user_file), "--duration", "1", "--interval", "0.5"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "portal user portal:a-password" in run.stderr  # the broker the fleet started knows that user
