"""NUT bridges through the portal's HTTP entry points: create, enrol, report UPSes, claim with one click."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from devicelink.provisioning import device_password
from portal.extensions import db
from portal.models import Device, Entitlement, NutBridge
from portal.services.clock import clock
from portal.services.fleet import nut_bridges
from tests.portal.factories import login, make_device, make_user
from tests.security.tenancy_world import forget_cached_user

FACTORY_KEY = b"test-factory-key"
TOKEN_RE = re.compile(r'id="token-value">(nbe_[A-Za-z0-9_-]+)<')


def _new_bridge(client, name="nas-01", site="Rack B"):
    response = client.post("/bridges", data={"name": name, "site": site})
    assert response.status_code == 201
    return TOKEN_RE.search(response.get_data(as_text=True)).group(1)


def _enrolled(client):
    token = _new_bridge(client)
    answer = client.post("/api/bridges/enrol", json={"token": token})
    assert answer.status_code == 200
    return answer.get_json()


def _report(client, secret, devices):
    return client.post("/api/bridges/devices", json={"devices": devices}, headers={"Authorization": f"Bearer {secret}"})


UPS = {"serial": "AS1316113420", "model": "Smart-UPS 750", "ups_name": "smt750", "server": "127.0.0.1:3493",
       "commands": ["load.off", "test.battery.start"]}


def test_a_new_bridge_shows_its_token_once_and_stores_only_a_hash(client):
    login(client, make_user())
    token = _new_bridge(client)
    bridge = db.session.query(NutBridge).one()
    assert token not in (bridge.enrolment_token_hash or "") and len(bridge.enrolment_token_hash) == 64
    assert token not in client.get("/bridges").get_data(as_text=True)  # shown once
    assert "Waiting for the agent" in client.get("/bridges").get_data(as_text=True)


def test_the_start_command_names_the_public_address_and_the_broker_without_its_login(app, client):
    app.config.update(PUBLIC_URL="https://ups.example.com/", MQTT_URL="mqtt://portal:s3cret@10.0.0.9:1883")
    login(client, make_user())
    page = client.post("/bridges", data={"name": "nas-01"}).get_data(as_text=True)
    assert "--portal https://ups.example.com --broker mqtt://10.0.0.9:1883" in page
    assert "s3cret" not in page


def test_a_bridge_needs_a_name(client):
    login(client, make_user())
    response = client.post("/bridges", data={"name": "  ", "site": ""})
    assert response.status_code == 422
    assert "Give the bridge a name" in response.get_data(as_text=True)
    assert db.session.query(NutBridge).count() == 0


def test_the_token_works_once(client):
    login(client, make_user())
    token = _new_bridge(client)
    first = client.post("/api/bridges/enrol", json={"token": token})
    assert first.status_code == 200 and first.get_json()["secret"].startswith("nbs_")
    again = client.post("/api/bridges/enrol", json={"token": token})
    assert again.status_code == 403 and "already used" in again.get_json()["error"]


def test_an_expired_token_is_refused(client):
    login(client, make_user())
    token = _new_bridge(client)
    bridge = db.session.query(NutBridge).one()
    bridge.enrolment_expires_at = clock().now() - timedelta(seconds=1)
    db.session.commit()
    response = client.post("/api/bridges/enrol", json={"token": token})
    assert response.status_code == 403 and "expired" in response.get_json()["error"]
    assert db.session.get(NutBridge, bridge.id).secret_hash is None


NESTED = b"[" * 100_000 + b"]" * 100_000  # Python's JSON parser gives up with RecursionError


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"token": 5}', b'{"token": "short"}', NESTED])
def test_bad_enrolment_requests_get_a_clear_answer(client, body):
    response = client.post("/api/bridges/enrol", data=body, content_type="application/json")
    assert response.status_code in (400, 403)
    assert response.get_json()["error"]


def test_enrolment_is_rate_limited(app, client):
    app.config["BRIDGE_ENROL_RATE_LIMIT"] = "3 per minute"
    codes = [client.post("/api/bridges/enrol", json={"token": f"nbe_guess_number_{i}"}).status_code for i in range(4)]
    assert codes == [403, 403, 403, 429]


def test_reporting_needs_the_bridges_secret(client):
    assert _report(client, "nbs_wrong", [UPS]).status_code == 401
    assert client.post("/api/bridges/devices", json={"devices": [UPS]}).status_code == 401
    assert db.session.query(Device).count() == 0


def test_a_deeply_nested_report_is_refused_plainly(client):
    login(client, make_user())
    secret = _enrolled(client)["secret"]
    response = client.post(
        "/api/bridges/devices", data=NESTED, content_type="application/json", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 400 and response.get_json()["error"]


def test_a_reported_ups_gets_its_device_login_and_is_claimed_with_one_click(client):
    login(client, make_user())
    enrolled = _enrolled(client)
    answer = _report(client, enrolled["secret"], [UPS])
    assert answer.status_code == 200
    assert answer.get_json() == {"credentials": {UPS["serial"]: device_password(FACTORY_KEY, UPS["serial"])}, "refused": {}}
    device = db.session.query(Device).one()
    assert device.owner_company_id is None and device.nut_ups == "smt750@127.0.0.1:3493"
    page = client.get("/bridges").get_data(as_text=True)
    assert "AS1316113420" in page and "Claim" in page
    bridge = db.session.query(NutBridge).one()
    response = client.post(f"/bridges/{bridge.id}/claim", data={"device": device.id})
    assert response.status_code == 302 and response.location.endswith(f"/devices/{device.id}")
    db.session.refresh(device)
    assert device.owner_company_id is not None
    assert device.trial_started_on is None and db.session.query(Entitlement).count() == 0  # no trial: Basic
    device_page = client.get(response.location).get_data(as_text=True)
    assert "registered to" in device_page
    assert re.search(r'id="connection">NUT bridge nas-01 · <span class="break-anywhere">smt750@127.0.0.1:3493', device_page)


def test_a_bridge_cannot_take_over_a_smartconnect_device_or_another_bridges_ups(client):
    make_device(serial="AS2611000001")
    login(client, make_user())
    first = _enrolled(client)
    assert _report(client, first["secret"], [UPS]).status_code == 200
    second = _enrolled(client)
    answer = _report(client, second["secret"], [UPS, {**UPS, "serial": "AS2611000001"}, {**UPS, "serial": "bad serial!"}]).get_json()
    assert answer["credentials"] == {}
    assert set(answer["refused"]) == {"AS1316113420", "AS2611000001", "bad serial!"}
    assert db.session.query(Device).filter_by(serial="AS2611000001").one().bridge_id is None


@pytest.mark.parametrize("devices", [[], "x", [UPS] * 65, [{**UPS, "commands": ["BAD NAME"]}]])
def test_bad_reports_change_nothing(client, devices):
    """Every shape of a bad report is answered plainly and registers nothing."""
    login(client, make_user())
    secret = _enrolled(client)["secret"]
    response = _report(client, secret, devices)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.get_json()["credentials"] == {}
    assert db.session.query(Device).count() == 0


def test_another_company_can_neither_see_nor_claim_a_bridges_ups(client, app):
    forget_cached_user(app)
    login(client, make_user(company="Owner Ltd"))
    secret = _enrolled(client)["secret"]
    _report(client, secret, [UPS])
    bridge, device = db.session.query(NutBridge).one(), db.session.query(Device).one()
    stranger = app.test_client()
    login(stranger, make_user(company="Elsewhere Ltd"))
    assert "AS1316113420" not in stranger.get("/bridges").get_data(as_text=True)
    assert stranger.post(f"/bridges/{bridge.id}/claim", data={"device": device.id}).status_code == 404
    own = stranger.post("/bridges", data={"name": "mine"})
    assert own.status_code == 201
    other_bridge = db.session.query(NutBridge).filter_by(name="mine").one()
    assert stranger.post(f"/bridges/{other_bridge.id}/claim", data={"device": device.id}).status_code == 404
    db.session.refresh(device)
    assert device.owner_company_id is None


def test_commands_follow_what_the_driver_lists(client):
    user = make_user()
    login(client, user)
    secret = _enrolled(client)["secret"]
    _report(client, secret, [UPS])
    device = db.session.query(Device).one()
    reasons = nut_bridges.unsupported_commands(device)
    assert "test.battery.start" not in reasons  # listed by upsd
    assert "calibrate.start" in reasons and "input.sensitivity" in reasons and "firmware.upgrade" in reasons
