"""`python -m simulator control ...`: the lab console's actions from a terminal, against a running fleet."""

from __future__ import annotations

import json

import pytest

from devicelink.provisioning import LAB_FACTORY_KEY, claim_code
from simulator.cli import main
from tests.simulator.test_control_console_api import _fleet_and_control

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def lab(embedded_broker, identities, wait_until):
    fleet, server = _fleet_and_control(embedded_broker, identities)
    wait_until(lambda: fleet.connected_count() == len(identities), what="fleet connected")
    yield fleet, server
    server.stop()
    fleet.stop()


def control(capsys, url, *args):
    code = main(["control", "--url", url, *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_the_console_actions_from_the_command_line(lab, identities, capsys, wait_until, monkeypatch):
    fleet, server = lab
    code, added, _ = control(capsys, server.url, "add", "--count", "1", "--seed", "31", "--model", "SMT750IC")
    assert code == 0 and added["added"][0]["claim_code"] == claim_code(LAB_FACTORY_KEY, added["added"][0]["serial"])
    serial = identities[0].serial
    code, run, _ = control(capsys, server.url, "run", "--kind", "blackout", "--duration", "10m", "--serials", serial)
    assert code == 0 and run["serials"] == [serial] and run["ends_s"] == pytest.approx(run["started_s"] + 600)
    wait_until(lambda: fleet.call(serial, lambda d: d.status_line()).startswith("On Battery"), what="power cut")
    assert control(capsys, server.url, "runs")[1][0]["state"] == "running"
    assert control(capsys, server.url, "stop", str(run["id"]))[1]["state"] == "stopped"
    assert control(capsys, server.url, "run", "--scenario", "brownout")[0] == 0
    assert control(capsys, server.url, "speed", "60")[1] == {"speed": 60.0}
    before = fleet.clock.now()
    assert control(capsys, server.url, "advance", "2h")[0] == 0 and fleet.clock.now() - before >= 7200
    assert control(capsys, server.url, "press", serial, "test.battery.start")[0] in (0, 1)
    assert control(capsys, server.url, "published", serial)[1]["telemetry"]["vars"]["device.serial"] == serial
    capacity = lambda: fleet.call(serial, lambda d: d.state.capacity_fraction)  # noqa: E731
    assert control(capsys, server.url, "run", "--kind", "ageing", "--years", "4", "--serials", serial)[0] == 0
    wait_until(lambda: capacity() < 0.8, what="the battery to age")
    code, swap, _ = control(capsys, server.url, "run", "--kind", "replace_battery", "--serials", serial)
    assert code == 0 and swap["name"] == "Battery replaced" and swap["serials"] == [serial]
    wait_until(lambda: capacity() > 0.99, what="a new battery")
    monkeypatch.setenv("UPSCONNECT_LAB_CONTROL_URL", server.url)
    assert main(["control", "devices"]) == 0 and serial in capsys.readouterr().out  # the URL from the environment
    code, removed, _ = control(capsys, server.url, "remove", added["added"][0]["serial"])
    assert code == 0 and removed[0]["removed"] is True


def test_refusals_are_one_line_and_change_nothing(lab, identities, capsys):
    fleet, server = lab
    code, _, err = control(capsys, server.url, "run", "--kind", "ageing", "--years", "99")
    assert code == 1 and "years" in err and "Traceback" not in err
    code, _, err = control(capsys, server.url, "run", "--kind", "blackout", "--duration", "soon")
    assert code == 2 and "--duration" in err
    code, _, err = control(capsys, server.url, "remove", "AS0000000000")
    assert code == 1 and "no device" in err
    assert len(fleet.devices) == len(identities)
    code, _, err = control(capsys, "http://127.0.0.1:9", "devices")
    assert code == 1 and "does not answer" in err
    assert main(["control", "devices"]) == 2 and "UPSCONNECT_LAB_CONTROL_URL" in capsys.readouterr().err
