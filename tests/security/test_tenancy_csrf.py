"""CSRF: every state-changing route of the url_map refuses a missing token and a token of another session.

The test configuration turns CSRF off for convenience; here it is on, as in production. Each non-GET rule
is posted by a signed-in owner with its world's ids filled in, once without a token and once with a token
taken from another browser's session (in the form and in the htmx header); each answer is 400 and no row of
any table changes. A control request with the owner's own token shows the refusals are CSRF's doing.
"""

from __future__ import annotations

import re

import pytest
from flask import url_for

from tests.security.tenancy_world import (
    build_world,
    client_as,
    forget_cached_user,
    quick_password_hashes,
    snapshot,
)

TOKEN = re.compile(r'name="csrf_token"[^>]* value="([^"]+)"')


# Machine endpoints a NUT bridge agent calls: no browser session, so no CSRF token; each is authenticated by
# a secret the agent sends (a one-time token, or its bearer secret), and the owner's cookie grants nothing there.
MACHINE_ROUTES = {"/api/bridges/enrol", "/api/bridges/devices"}
# The JSON API: bearer tokens only, so the owner's cookie without one is a 401 (tests/security/test_api_tenancy.py).
API_PREFIX = "/api/v1/"


def _token(client, path: str = "/login") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def _state_changing_rules(app):
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.methods - {"GET", "HEAD", "OPTIONS"}),
        key=lambda rule: rule.rule,
    )


def _fields(world) -> dict[str, str]:
    """Every id field a form posts, filled with the world's ids, so only the token stands in the way."""
    return {
        "device": str(world.device.id), "share": str(world.share_id), "policy": str(world.policy_id),
        "delivery": str(world.delivery_id), "window": str(world.window_id), "support": str(world.support_id),
        "code": world.code, "email": "someone@new.example", "action": "1d", "type": "no.such.command",
        "name": "Renamed", "password": "correct horse battery", "transfer": str(world.extra["transfer_id"]),
    }


def _url(app, rule, world) -> str:
    values = {"device_id": world.device.id, "token": "not-a-token", "policy_id": world.policy_id, "run_id": 1,
              "bridge_id": world.extra["bridge_id"], "token_id": world.extra["api_token_id"],
              "batch_id": world.extra["batch_id"], "schedule_id": world.extra["schedule_id"]}
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})


@pytest.fixture
def csrf_world(app, monkeypatch):
    quick_password_hashes(monkeypatch)
    forget_cached_user(app)
    world = build_world(app)
    owner = client_as(app, world, "owner")  # signed in before CSRF is switched on
    app.config["WTF_CSRF_ENABLED"] = True
    return world, owner


def test_every_state_changing_route_refuses_a_missing_or_foreign_token(app, csrf_world):
    world, owner = csrf_world
    own = _token(owner, "/lab/clock")  # the owner's session holds its own CSRF secret, as a browser's would
    foreign = _token(app.test_client())  # another browser's session
    assert foreign != own
    fields = _fields(world)
    rules = _state_changing_rules(app)
    assert len(rules) >= 30
    for rule in rules:
        url = _url(app, rule, world)
        before = snapshot()
        attempts = {
            "no token": owner.post(url, data=fields),
            "foreign token in the form": owner.post(url, data={**fields, "csrf_token": foreign}),
            "foreign token in the htmx header": owner.post(
                url, data=fields, headers={"X-CSRFToken": foreign, "HX-Request": "true"}
            ),
        }
        machine = rule.rule in MACHINE_ROUTES or rule.rule.startswith(API_PREFIX)
        refused = (400, 401, 403) if machine else (400,)
        for what, response in attempts.items():
            assert response.status_code in refused, f"POST {rule.rule} with {what}: {response.status_code}"
        assert snapshot() == before, f"POST {rule.rule} changed something without a valid token"


def test_the_sessions_own_token_is_accepted(app, csrf_world):
    world, owner = csrf_world
    token = _token(owner, "/lab/clock")
    response = owner.post("/lab/clock", data={"action": "1d", "csrf_token": token})
    assert response.status_code == 303
