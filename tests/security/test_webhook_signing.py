"""The generic webhook is signed in the Standard Webhooks format and carries a stable message id.

The proof is the reference implementation (the `standardwebhooks` package) verifying what a real local
receiver got; the secret is the one the notifications page shows, rotated by a POST with a CSRF token.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug import Response

from portal.extensions import db
from portal.ingest import alert_on_batch
from portal.models import Company, NotificationDelivery
from portal.services.alerts import policies
from portal.services.clock import clock
from portal.services.fleet import telemetry_store as store
from portal.services.licensing import entitlements
from portal.services.outbox.queue import deliver_due, resend
from tests.portal.factories import login, make_device, make_user


@pytest.fixture
def owner(app):
    return make_user(email="owner@signed.example", company="Signed Co")


@pytest.fixture
def device(owner):
    device = make_device(owner)
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()
    return device


def _route(owner, url: str) -> None:
    policies.create_policy(
        owner,
        policies.PolicyInput(
            name="Hook", description="", event_types=["on_battery"], severities=["warning"],
            email_recipients="", webhook_url=url,
        ),
        now=clock().now(),
    )
    db.session.commit()


def _on_battery(device, seq: int = 1) -> None:
    now = clock().now()
    events = store.store_events(
        [store.EventRow(device.serial, seq, now.timestamp(), "0x0109", "warning", "UPS: On battery power.")],
        clock().today(),
        now=now,
    )
    alert_on_batch(store.BatchResult(), events, now=now)
    db.session.commit()


def _secret(owner) -> str:
    return db.session.get(Company, owner.company_id).webhook_secret


def test_the_reference_implementation_verifies_our_signature(app, httpserver, owner, device):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _route(owner, httpserver.url_for("/hook"))
    _on_battery(device)
    assert deliver_due(clock().now()).sent == 1
    [(request, _)] = httpserver.log
    secret = _secret(owner)
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    body = Webhook(secret).verify(request.get_data(), dict(request.headers))
    assert body["schema"] == "upsconnect.alert/1" and body["event_type"] == "on_battery"
    assert body["id"] == request.headers["webhook-id"]
    assert request.headers["webhook-signature"].startswith("v1,")


def test_a_changed_body_or_another_secret_fails_verification(app, httpserver, owner, device):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _route(owner, httpserver.url_for("/hook"))
    _on_battery(device)
    deliver_due(clock().now())
    [(request, _)] = httpserver.log
    headers = dict(request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret(owner)).verify(request.get_data().replace(b"warning", b"critical"), headers)
    other = make_user(email="other@signed.example")
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret(other)).verify(request.get_data(), headers)


def test_a_retry_and_a_resend_keep_the_message_id(app, httpserver, owner, device):
    """A receiver can drop a repeat: every attempt of one message has one id, each message its own."""
    answers = iter([Response("busy", status=503), Response("ok"), Response("ok"), Response("ok")])
    httpserver.expect_request("/hook", method="POST").respond_with_handler(lambda request: next(answers))
    _route(owner, httpserver.url_for("/hook"))
    _on_battery(device, seq=1)
    deliver_due(clock().now())  # 503: the row waits for a retry
    deliver_due(clock().now() + clock_step())
    row = db.session.scalars(select(NotificationDelivery).where(NotificationDelivery.channel == "webhook")).one()
    assert (row.status, row.attempts) == ("sent", 2)
    resend(row, now=clock().now())
    db.session.commit()
    deliver_due(clock().now() + clock_step())
    _on_battery(device, seq=2)
    deliver_due(clock().now() + clock_step())
    ids = [request.headers["webhook-id"] for request, _ in httpserver.log]
    assert len(ids) == 4
    assert ids[0] == ids[1] == ids[2] == row.message_id  # failed try, retry, re-send: one message
    assert ids[3] != ids[0]  # the next event is a new message
    for request, _ in httpserver.log:
        Webhook(_secret(owner)).verify(request.get_data(), dict(request.headers))


def clock_step() -> timedelta:
    return timedelta(minutes=5)  # past the first retry's backoff


def test_slack_and_teams_carry_the_message_id_in_the_body(app, httpserver, owner, device):
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    httpserver.expect_request("/teams", method="POST").respond_with_data("", status=202)
    policies.create_policy(
        owner,
        policies.PolicyInput(
            name="Chat", description="", event_types=["on_battery"], severities=["warning"], email_recipients="",
            slack_webhook_url=httpserver.url_for("/slack"), teams_webhook_url=httpserver.url_for("/teams"),
        ),
        now=clock().now(),
    )
    db.session.commit()
    _on_battery(device)
    deliver_due(clock().now())
    got = {request.path: request for request, _ in httpserver.log}
    slack, teams = got["/slack"], got["/teams"]
    assert slack.get_json()["blocks"][-1]["elements"][0]["text"] == f"Delivery {slack.headers['webhook-id']}"
    assert teams.get_json()["attachments"][0]["content"]["id"] == teams.headers["webhook-id"]
    assert "webhook-signature" not in slack.headers  # Slack and Teams check no signature: only ours is signed


def test_the_page_shows_the_secret_and_rotating_needs_a_post_with_a_csrf_token(app, client, owner):
    login(client, owner)
    before = _secret(owner)
    assert before in client.get("/notifications").get_data(as_text=True)
    assert client.get("/notifications/signing-secret/rotate").status_code == 405
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = client.post("/notifications/signing-secret/rotate")
        assert refused.status_code == 400 and _secret(owner) == before
        page = client.get("/notifications").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        rotated = client.post("/notifications/signing-secret/rotate", data={"csrf_token": token})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert rotated.status_code == 303
    db.session.expire_all()
    after = _secret(owner)
    assert after != before and after.startswith("whsec_")
    assert after in client.get("/notifications").get_data(as_text=True)


def test_webhooks_sent_after_rotation_verify_only_with_the_new_secret(app, client, httpserver, owner, device):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _route(owner, httpserver.url_for("/hook"))
    old = _secret(owner)
    login(client, owner)
    client.post("/notifications/signing-secret/rotate")
    db.session.expire_all()
    _on_battery(device)
    deliver_due(clock().now())
    [(request, _)] = httpserver.log
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.get_data(), dict(request.headers))
    Webhook(_secret(owner)).verify(request.get_data(), dict(request.headers))


def test_each_company_has_its_own_secret(app):
    first, second = make_user(), make_user()
    assert _secret(first) != _secret(second)
