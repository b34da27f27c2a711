"""The lab console through the portal: a real simulated fleet with its control API on a free port, the
portal's pages and forms through the Flask test client, and the lab clock moving the fleet with it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from devicelink.brokers import EmbeddedBroker
from devicelink.provisioning import claim_code, factory_key_from_env, manufacture
from portal.extensions import db
from portal.models import User
from portal.services.clock import clock
from portal.services.lab.console import from_unix
from simulator.control import ControlServer
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock
from tests.portal.factories import login, make_user
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(90)
KEY = factory_key_from_env("test-factory-key")  # the portal's FACTORY_KEY in tests


@pytest.fixture
def fleet_lab(app):
    broker = EmbeddedBroker(factory_key=KEY)
    broker.start()
    sim = SimClock(speed=1.0, start_s=clock().now().timestamp())

    def make(count, seed, models):
        return [
            SimulatedDevice(i, seed=seed, sim_start_s=sim.now(), factory_key=KEY, step_s=1.0)
            for i in manufacture(count, seed, models, factory_key=KEY)
        ]

    fleet = Fleet(make(3, 5, None), broker.endpoint(), clock=sim, interval_s=0.3, backoff_min_s=0.1)
    control = ControlServer(fleet, 0, seed=5, make_devices=make).start()
    fleet.start()
    wait_until(lambda: fleet.connected_count() == 3, 20, "the fleet to connect")
    app.config["LAB_CONTROL_URL"] = control.url
    yield fleet
    control.stop()
    fleet.stop()
    broker.stop()


def admin(client) -> User:
    user = make_user()
    assert user.is_admin  # the company's first user administers it
    login(client, user)
    return user


def test_the_console_shows_the_fleet_its_claim_codes_and_time(client, fleet_lab):
    admin(client)
    page = client.get("/lab/console").get_data(as_text=True)
    for serial in fleet_lab.devices:
        assert serial in page and claim_code(KEY, serial) in page
    assert "3 devices, 3 connected" in page and "×1" in page
    assert 'id="fleet-now"' in page and "Scenario files" in page


def test_devices_are_added_with_their_claim_codes_and_removed(client, fleet_lab):
    admin(client)
    response = client.post("/lab/console/devices", data={"model": "SMT750IC", "count": "2", "seed": "77"})
    assert response.status_code == 303
    page = client.get("/lab/console").get_data(as_text=True)
    added = re.findall(r"(\w{12}) \(SMT750IC\) claim code ([\w-]+)", page)
    assert len(added) == 2 and all(code == claim_code(KEY, serial) for serial, code in added)
    wait_until(lambda: fleet_lab.connected_count() == 5, 20, "the new devices to connect")

    client.post("/lab/console/devices/remove", data={"serials": [added[0][0]]})
    assert added[0][0] not in fleet_lab.devices
    assert "Removed 1 device from the lab." in client.get("/lab/console").get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"count": "0", "seed": "1"}, "between 1 and 50"),
        ({"count": "lots", "seed": "1"}, "Not a valid integer"),
        ({"count": "1", "seed": "5"}, "choose another seed"),
        ({"count": "1", "seed": "1", "model": "SMX9000"}, "Not a valid choice"),
    ],
)
def test_bad_additions_get_a_message_and_change_nothing(client, fleet_lab, data, message):
    admin(client)
    client.post("/lab/console/devices", data=data)
    assert len(fleet_lab.devices) == 3
    assert message in client.get("/lab/console").get_data(as_text=True)


def _lcd(fleet, serial):
    return fleet.call(serial, lambda d: d.status_line())


def test_a_power_cut_on_a_selection_shows_its_run_and_stops(client, fleet_lab):
    admin(client)
    serials = sorted(fleet_lab.devices)
    chosen = serials[:2]
    client.post("/lab/console/runs", data={"action": "power_cut", "serials": chosen, "scope": "selection"})
    wait_until(lambda: all(_lcd(fleet_lab, s).startswith("On Battery") for s in chosen), 20, "power cut")
    assert _lcd(fleet_lab, serials[2]).startswith("On Line")
    page = client.get("/lab/console").get_data(as_text=True)
    assert "Started “Power cut” on 2 devices." in page and 'data-state="running"' in page and "until stopped" in page
    run_id = re.search(r'data-run="(\d+)" data-state="running"', page).group(1)

    poll = client.get("/lab/console", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in poll and 'id="fleet-count" hx-swap-oob="true"' in poll
    shown = re.search(rf'id="display-{chosen[0]}" class="lab-display" hx-swap-oob="true"><span class="lcd">([^<]*)', poll)
    assert shown.group(1).startswith("On Battery") and 'id="runs" hx-swap-oob="true"' in poll

    live = client.get(f"/lab/console/devices/{chosen[0]}").get_data(as_text=True)
    assert "Last telemetry" in live and "ups.status" in live

    client.post(f"/lab/console/runs/{run_id}/stop")
    wait_until(lambda: not any(_lcd(fleet_lab, s).startswith("On Battery") for s in chosen), 20, "power back")
    assert 'data-state="stopped"' in client.get("/lab/console").get_data(as_text=True)


def test_whole_fleet_scenarios_tests_and_speed(client, fleet_lab):
    admin(client)
    client.post("/lab/console/runs", data={"action": "ageing", "years": "4", "scope": "all"})
    assert "Started “Battery ageing” on 3 devices." in client.get("/lab/console").get_data(as_text=True)
    client.post("/lab/console/runs", data={"action": "scenario:heat-wave", "scope": "all"})
    assert "on 3 devices" in client.get("/lab/console").get_data(as_text=True)
    client.post("/lab/console/tests", data={"test": "self_test", "scope": "all"})
    page = client.get("/lab/console").get_data(as_text=True)
    answers = re.findall(r"(\w{12}): (self-test [^.]*)\.", page)  # every display answers, started or refused
    assert sorted(serial for serial, _ in answers) == sorted(fleet_lab.devices)
    client.post("/lab/console/runs", data={"action": "replace_battery", "scope": "all"})
    assert "Started “Battery replaced” on 3 devices." in client.get("/lab/console").get_data(as_text=True)
    for serial in fleet_lab.devices:  # the aged batteries are new again
        wait_until(lambda s=serial: fleet_lab.call(s, lambda d: d.state.capacity_fraction) > 0.99, 20, "a new battery")
    client.post("/lab/console/speed", data={"speed": "60"})
    assert fleet_lab.clock.speed == 60
    assert "The fleet now runs at ×60." in client.get("/lab/console").get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "power_cut", "scope": "selection"}, "Choose at least one device"),
        ({"action": "ageing", "years": "99", "scope": "all"}, "0.1 to 20 years"),
        ({"action": "heat_wave", "temp_c": "5", "scope": "all"}, "between 30 and 70"),
        ({"action": "meteor", "scope": "all"}, "Choose what to do"),
        ({"action": "power_cut", "serials": ["AS0000000000"]}, "no device"),
        ({"action": "scenario:nope", "scope": "all"}, "no scenario"),
    ],
)
def test_bad_actions_get_a_message_and_change_nothing(client, fleet_lab, data, message):
    admin(client)
    client.post("/lab/console/runs", data=data)
    page = client.get("/lab/console").get_data(as_text=True)
    assert message in page and "data-run=" not in page
    assert all(_lcd(fleet_lab, s).startswith("On Line") for s in fleet_lab.devices)


def test_adding_devices_is_rate_limited_per_user(client, app):
    admin(client)
    app.config["LAB_ADD_RATE_LIMIT"] = "3 per minute"
    statuses = [client.post("/lab/console/devices", data={"count": "0", "seed": "1"}).status_code for _ in range(4)]
    assert statuses == [303, 303, 303, 429]


def test_a_bad_speed_is_refused(client, fleet_lab):
    admin(client)
    client.post("/lab/console/speed", data={"speed": "7"})
    assert fleet_lab.clock.speed == 1.0
    assert "Not a valid choice" in client.get("/lab/console").get_data(as_text=True)


def test_moving_the_lab_clock_moves_the_fleet(client, fleet_lab):
    admin(client)
    before = fleet_lab.clock.now()
    response = client.post("/lab/clock", data={"action": "30d", "back_to": "console"})
    assert response.headers["Location"].endswith("/lab/console")
    assert fleet_lab.clock.now() - before == pytest.approx(30 * 86400, abs=30)
    assert abs((from_unix(fleet_lab.clock.now()) - clock().now()).total_seconds()) < 30
    page = client.get("/lab/console").get_data(as_text=True)
    assert "The simulated fleet moved with it." in page
    # back: the fleet cannot follow, and says so
    client.post("/lab/clock", data={"days": "-10", "back_to": "nowhere"})
    assert clock().offset() == timedelta(days=20)
    assert "never goes back in time" in client.get("/lab/clock").get_data(as_text=True)


def test_only_administrators_use_the_console(client, fleet_lab):
    user = make_user()
    user.is_admin = False
    db.session.commit()
    login(client, user)
    assert client.get("/lab/console").status_code == 404
    assert client.post("/lab/console/runs", data={"action": "power_cut", "scope": "all"}).status_code == 404
    assert all(_lcd(fleet_lab, s).startswith("On Line") for s in fleet_lab.devices)


def test_without_a_fleet_the_console_says_so(client, app):
    admin(client)
    app.config["LAB_CONTROL_URL"] = None
    assert "No simulated fleet is connected" in client.get("/lab/console").get_data(as_text=True)
    client.post("/lab/console/runs", data={"action": "power_cut", "scope": "all"})
    assert "UPSCONNECT_LAB_CONTROL_URL" in client.get("/lab/console").get_data(as_text=True)
    app.config["LAB_CONTROL_URL"] = "http://127.0.0.1:9"  # nothing listens there
    assert "does not answer" in client.get("/lab/console").get_data(as_text=True)


def test_outside_lab_mode_the_console_does_not_exist(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, LAB_MODE=False)
    assert not [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/lab")]
