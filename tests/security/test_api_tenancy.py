"""Tenancy on the JSON API: every /api/v1 operation, tried with a token of each party of the tenancy world.

A token acts only as its user: the owner, a co-worker and the partner the device is shared with reach it;
an unrelated customer and an unrelated partner get a 404 problem that changes nothing; a revoked token, a
made-up one and none at all get 401 (the owner's signed-in cookie included). Every operation of the
OpenAPI document must have a row here, so a new one cannot slip in untested.
"""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import ApiCall, DeviceCommand
from portal.services.api import tokens
from portal.services.clock import utcnow
from tests.security.tenancy_world import (
    build_world,
    client_as,
    forget_cached_user,
    quick_password_hashes,
    snapshot,
)

ACTORS = ("owner", "coworker", "partner")  # who may act on the world's device
OUTSIDERS = ("customer", "stranger_partner")
COMMAND_ID = "0d5c1e9a-1111-4222-8333-444455556666"

# operationId -> (method, path with {device_id}/{command_id}, JSON body)
OPERATIONS = {
    "get_device": ("GET", "/api/v1/devices/{device_id}", None),
    "get_live_state": ("GET", "/api/v1/devices/{device_id}/live", None),
    "list_events": ("GET", "/api/v1/devices/{device_id}/events", None),
    "get_telemetry": ("GET", "/api/v1/devices/{device_id}/telemetry", None),
    "get_timeline": ("GET", "/api/v1/devices/{device_id}/timeline", None),
    "list_commands": ("GET", "/api/v1/devices/{device_id}/commands", None),
    "get_command": ("GET", "/api/v1/devices/{device_id}/commands/{command_id}", None),
    "list_shares": ("GET", "/api/v1/devices/{device_id}/shares", None),
    # With a customer filter: a company another party may not see is a 404 (without one, an empty report).
    "get_inventory_report": ("GET", "/api/v1/reports/inventory?customer={customer_id}", None),
    "get_renewals_report": ("GET", "/api/v1/reports/renewals?customer={customer_id}&format=csv", None),
    # A license from the world's code (the partner ordered it) for the device: only those who may act on it.
    "preview_assignment": ("POST", "/api/v1/activation-codes/preview", {"code": "{code}", "device_ids": ["{device_id}"]}),
    "assign_code": ("POST", "/api/v1/activation-codes/assign", {"code": "{code}", "device_ids": ["{device_id}"]}),
    # Refused by the plan rule for everyone who may act (the device is offline); outsiders never reach the rule.
    "send_command": ("POST", "/api/v1/devices/{device_id}/commands", {"type": "test.battery.start"}),
}
OWNERS_ONLY = {"list_shares"}  # like the Sharing page: the partner it is shared with does not manage shares
LISTS = {"list_devices"}  # no id in the path: tenancy shows in what the list holds
# Names no object: the code itself is the secret (as on the Verify page, rate-limited per token).
NO_OBJECT = {"verify_code"}


@pytest.fixture
def world(app, monkeypatch):
    quick_password_hashes(monkeypatch)
    forget_cached_user(app)
    world = build_world(app)
    now = utcnow()
    db.session.add(DeviceCommand(
        id=COMMAND_ID, device_id=world.device.id, type="test.battery.start", args={}, issued_by_user_id=world.users["owner"].id,
        issued_at=now, status="done", progress_percent=100, message="Passed.", updated_at=now,
    ))
    world.extra["secrets"] = {
        party: tokens.create_token(user, f"{party} token", ["read", "commands", "licensing"], now=now).secret
        for party, user in world.users.items()
    }
    db.session.commit()
    return world


def _call(app, world, name: str, secret: str | None, client=None):
    method, path, body = OPERATIONS[name]
    url = path.format(device_id=world.device.id, command_id=COMMAND_ID, customer_id=world.customer_id)
    if body and "code" in body:
        body = {"code": world.code, "device_ids": [world.device.id]}
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return (client or app.test_client()).open(url, method=method, headers=headers, json=body)


def test_every_documented_operation_has_a_row(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    assert documented == set(OPERATIONS) | LISTS | NO_OBJECT


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_only_parties_who_may_act_reach_the_device(app, world, name):
    secrets = world.extra["secrets"]
    outsiders = (*OUTSIDERS, "partner") if name in OWNERS_ONLY else OUTSIDERS
    for party in outsiders:
        before = snapshot()
        response = _call(app, world, name, secrets[party])
        assert response.status_code == 404, f"{name} as {party}: {response.status_code}"
        assert response.get_json()["type"] == "/api/v1/docs#problem-not-found"
        after = snapshot()
        assert len(after["api_calls"]) == len(before["api_calls"]) + 1  # the refusal is audited ...
        assert {k: v for k, v in after.items() if k != "api_calls"} == {k: v for k, v in before.items() if k != "api_calls"}
    for party in ACTORS if name not in OWNERS_ONLY else ("owner", "coworker"):
        response = _call(app, world, name, secrets[party])
        # send_command: the device is offline, the plan rule's answer; assign_code creates an assignment.
        expected = {"send_command": (422,), "assign_code": (201,)}.get(name, (200,))
        assert response.status_code in expected, f"{name} as {party}: {response.get_data(as_text=True)}"


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_revoked_made_up_and_missing_tokens_and_cookies_get_401(app, world, name):
    owner_user = world.users["owner"]
    revoked = tokens.create_token(owner_user, "old", ["read", "commands"], now=utcnow())
    tokens.revoke_token(owner_user, revoked.token.id, now=utcnow())
    db.session.commit()
    signed_in = client_as(app, world, "owner")  # the owner's browser session: its cookie grants nothing here
    before = snapshot()
    for secret, client in ((revoked.secret, None), ("upc_made-up", None), (None, None), (None, signed_in)):
        response = _call(app, world, name, secret, client)
        assert response.status_code == 401, f"{name}: {response.status_code}"
        assert response.mimetype == "application/problem+json"
    assert snapshot() == before  # nothing changed, and nothing is audited without a valid token


def test_the_device_list_holds_only_what_each_party_may_see(app, world):
    secrets = world.extra["secrets"]
    seen = {}
    for party in (*ACTORS, *OUTSIDERS):
        response = app.test_client().get("/api/v1/devices", headers={"Authorization": f"Bearer {secrets[party]}"})
        assert response.status_code == 200
        seen[party] = {(d["serial"], d["shared"]) for d in response.get_json()["items"]}
    device = (world.device.serial, False)
    assert seen["owner"] == seen["coworker"] == {device}
    assert seen["partner"] == {(world.device.serial, True)}  # only what was shared with it
    assert seen["customer"] == seen["stranger_partner"] == set()
    assert db.session.query(ApiCall).count() == 5
