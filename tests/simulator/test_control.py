"""The loopback control API of a running fleet."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from devicelink.provisioning import LAB_FACTORY_KEY, claim_code
from simulator.control import ControlServer
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def control(embedded_broker, identities, wait_until):
    clock = SimClock(speed=10.0, start_s=1_700_000_000.0)
    devices = [SimulatedDevice(i, seed=7, sim_start_s=clock.start_s) for i in identities]
    fleet = Fleet(devices, embedded_broker.endpoint(), clock=clock, interval_s=0.2, backoff_min_s=0.1)
    server = ControlServer(fleet, 0, seed=7).start()
    fleet.start()
    wait_until(lambda: fleet.connected_count() == len(identities), what="fleet connected")
    yield server
    server.stop()
    fleet.stop()


def call(server, method, path, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(server.url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_binds_loopback_only(control):
    assert control.httpd.server_address[0] == "127.0.0.1"


def test_devices_and_lcd(control, identities):
    status, rows = call(control, "GET", "/devices")
    assert status == 200 and {r["serial"] for r in rows} == {i.serial for i in identities}
    serial = identities[0].serial
    status, lcd = call(control, "GET", f"/devices/{serial}")
    assert status == 200 and lcd["registration_code"] == claim_code(LAB_FACTORY_KEY, serial)
    assert lcd["status"].startswith("On Line") and lcd["connected"] is True
    assert call(control, "GET", "/devices/NOPE123456")[0] == 404


def test_lcd_actions(control, identities):
    serial = identities[0].serial
    status, answer = call(control, "POST", f"/devices/{serial}/lcd", {"action": "firmware.install"})
    assert status == 200 and answer["lcd"]["status"].startswith("Firmware update")
    status, answer = call(
        control, "POST", f"/devices/{serial}/lcd", {"action": "input.sensitivity", "value": "low"}
    )
    assert status == 200 and answer["lcd"]["sensitivity"] == "Low"
    status, answer = call(
        control, "POST", f"/devices/{serial}/lcd", {"action": "input.sensitivity", "value": "max"}
    )
    assert status == 400 and "sensitivity" in answer["error"]


def test_power_load_speed_and_scenario(control, identities, wait_until):
    serial = identities[1].serial
    assert (
        call(control, "POST", f"/devices/{serial}/power", {"kind": "blackout", "duration_s": 600})[0] == 200
    )
    wait_until(
        lambda: call(control, "GET", f"/devices/{serial}")[1]["status"].startswith("On Battery"),
        what="on battery",
    )
    assert call(control, "POST", f"/devices/{serial}/power", {"kind": "restore"})[0] == 200
    wait_until(
        lambda: call(control, "GET", f"/devices/{serial}")[1]["status"].startswith("On Line"),
        what="back on line",
    )
    assert call(control, "POST", f"/devices/{serial}/load", {"percent": 50})[0] == 200
    assert call(control, "POST", f"/devices/{serial}/load", {"percent": 500})[0] == 400
    assert call(control, "POST", "/speed", {"speed": 120})[1] == {"speed": 120.0}
    assert call(control, "GET", "/stats")[1]["speed"] == 120.0
    status, answer = call(
        control, "POST", "/scenario", raw=b'[[event]]\nkind = "blackout"\nshare = 0.5\nduration = "1h"'
    )
    assert status == 200 and answer["devices_per_event"] == {"1:blackout": 3}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/speed", {"speed": "fast"}, 400),
        ("POST", "/speed", {"speed": 0}, 400),
        ("POST", "/devices/{serial}/power", {"kind": "meteor"}, 400),
        ("POST", "/devices/{serial}/lcd", None, 400),
        ("POST", "/scenario", None, 200),
        ("GET", "/nowhere", None, 404),
    ],
)
def test_bad_input_gets_a_message(control, identities, method, path, body, status):
    got, answer = call(control, method, path.format(serial=identities[0].serial), body)
    assert got == status
    if status != 200:
        assert answer["error"]


def test_garbage_bodies_are_400(control):
    assert call(control, "POST", "/speed", raw=b"\xff{")[0] == 400
    assert call(control, "POST", "/scenario", raw=b"[[event]\n")[0] == 400
