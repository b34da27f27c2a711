"""Personal access tokens: made on a page (shown once, stored hashed), revoked there, rate-limited, never a cookie."""

from __future__ import annotations

import hashlib
import re

from portal.extensions import db
from portal.models import ApiCall, ApiToken, DeviceCommand
from portal.services.clock import utcnow
from tests.api.api_world import bearer, build
from tests.portal.factories import login, make_user
from tests.portal.test_commands import DeviceInbox, broker, linked_app  # noqa: F401 - fixtures

SECRET = re.compile(r'<code id="token-value">(upc_[A-Za-z0-9_-]+)</code>')


def test_a_token_is_shown_once_and_stored_only_as_a_digest(app, client):
    user = make_user()
    login(client, user)
    page = client.post("/account/tokens/", data={"name": "RMM sync", "scopes": ["read", "commands"]})
    assert page.status_code == 201
    secret = SECRET.search(page.get_data(as_text=True)).group(1)
    row = db.session.query(ApiToken).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest() and secret not in repr(row.__dict__)
    assert row.scopes == ["read", "commands"] and row.user_id == user.id
    again = client.get("/account/tokens/").get_data(as_text=True)
    assert "RMM sync" in again and secret not in again and row.hint in again
    assert client.get("/api/v1/devices", headers=bearer(secret)).status_code == 200
    assert "1 call" in client.get("/account/tokens/").get_data(as_text=True)


def test_a_bad_token_form_says_why_and_saves_nothing(app, client):
    login(client, make_user())
    cases = [({"name": "", "scopes": ["read"]}, "Give the token a name"), ({"name": "x"}, "Choose at least one scope"),
             ({"name": "x", "scopes": ["admin"]}, "Unknown scope"), ({"name": "x" * 81, "scopes": ["read"]}, "at most 80")]
    for data, message in cases:
        response = client.post("/account/tokens/", data=data)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.query(ApiToken).count() == 0


def test_a_revoked_token_is_refused_at_once(app, client):
    world = build(app)
    login(client, world.owner)
    token = db.session.query(ApiToken).filter_by(name="all token").one()
    assert client.get("/api/v1/devices", headers=bearer(world.secrets["all"])).status_code == 200
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 303
    refused = client.get("/api/v1/devices", headers=bearer(world.secrets["all"]))
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Revoked" in client.get("/account/tokens/").get_data(as_text=True)
    # The other tokens of the same user still work.
    assert client.get("/api/v1/devices", headers=bearer(world.secrets["read"])).status_code == 200


def test_another_user_cannot_revoke_someone_elses_token(app, client):
    build(app)
    other = make_user()
    login(client, other)
    token = db.session.query(ApiToken).filter_by(name="all token").one()
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is None


def test_cookies_grant_nothing_on_the_api(app, client):
    world = build(app)
    login(client, world.owner)  # a signed-in browser session
    assert client.get("/dashboard").status_code == 200
    for path in ("/api/v1/devices", f"/api/v1/devices/{world.device.id}"):
        response = client.get(path)
        assert response.status_code == 401 and response.get_json()["type"] == "/api/v1/docs#problem-unauthorized"
    posted = client.post(f"/api/v1/devices/{world.device.id}/commands", json={"type": "test.battery.start"})
    assert posted.status_code == 401
    assert db.session.query(DeviceCommand).count() == 1  # only the world's own
    for header in ("Bearer", "Bearer ", "Basic abc", "Bearer upc_" + "x" * 200, "Bearer not-ours", "bearer\tupc_"):
        assert client.get("/api/v1/devices", headers={"Authorization": header}).status_code == 401
    assert db.session.query(ApiCall).count() == 0  # nothing is audited without a valid token


def test_calls_are_rate_limited_per_token(app, client):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    world = build(app)
    for _ in range(3):
        assert client.get("/api/v1/devices", headers=bearer(world.secrets["read"])).status_code == 200
    limited = client.get("/api/v1/devices", headers=bearer(world.secrets["read"]))
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
    assert limited.get_json()["type"] == "/api/v1/docs#problem-rate-limited"
    # Another token has its own count.
    assert client.get("/api/v1/devices", headers=bearer(world.secrets["all"])).status_code == 200


def test_a_command_sent_through_the_api_reaches_the_device_and_can_be_followed(linked_app, broker):  # noqa: F811
    client = linked_app.test_client()
    world = build(linked_app)
    inbox = DeviceInbox(broker.port, world.device.serial)
    try:
        sent = client.post(
            f"/api/v1/devices/{world.device.id}/commands", headers=bearer(world.secrets["commands"]),
            json={"type": "input.sensitivity", "args": {"sensitivity": "low"}},
        )
        assert sent.status_code == 202, sent.get_data(as_text=True)
        command = sent.get_json()
        assert command["status"] == "sent"
        payload = inbox.next()
        assert payload["id"] == command["id"] and payload["args"] == {"sensitivity": "low"}
    finally:
        inbox.close()
    row = db.session.get(DeviceCommand, command["id"])
    row.status, row.progress_percent, row.message, row.updated_at = "done", 100, "Sensitivity set.", utcnow()
    db.session.commit()
    followed = client.get(sent.headers["Location"], headers=bearer(world.secrets["read"]))
    assert followed.status_code == 200 and followed.get_json()["status"] == "done"
    # A commands-only token cannot read it back: reading needs the read scope.
    assert client.get(sent.headers["Location"], headers=bearer(world.secrets["commands"])).status_code == 403


def test_the_tokens_page_needs_its_csrf_token(app, client):
    user = make_user()
    login(client, user)
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/account/tokens/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]* value="([^"]+)"', page).group(1)
    assert client.post("/account/tokens/", data={"name": "x", "scopes": ["read"]}).status_code == 400
    assert db.session.query(ApiToken).count() == 0
    created = client.post("/account/tokens/", data={"name": "x", "scopes": ["read"], "csrf_token": csrf})
    assert created.status_code == 201
    token = db.session.query(ApiToken).one()
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 400
    assert client.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf}).status_code == 303
