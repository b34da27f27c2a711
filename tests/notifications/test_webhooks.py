"""Slack, Teams and the generic JSON webhook, over real HTTP to a local receiver (pytest-httpserver)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from werkzeug import Response

from portal.extensions import db
from portal.models import User
from portal.services.alerts import policies
from portal.services.clock import clock
from portal.services.outbox.queue import deliver_due
from tests.notifications.conftest import ON_BATTERY, deliveries, raise_event


def add_policy(owner: User, **urls) -> None:
    policies.create_policy(
        owner,
        policies.PolicyInput(
            name="Ops chat",
            description="",
            event_types=["on_battery", "overload"],
            severities=["critical", "warning"],
            email_recipients="",
            **urls,
        ),
        now=clock().now(),
    )
    db.session.commit()


def test_slack_gets_text_and_blocks(app, httpserver, owner, device):
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    add_policy(owner, slack_webhook_url=httpserver.url_for("/slack"))
    raise_event(device, *ON_BATTERY)
    stats = deliver_due(clock().now())
    assert stats.sent >= 1
    [(request, _)] = httpserver.log
    body = request.get_json()
    assert "On battery · Pump room UPS" in body["text"]
    assert body["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "On battery · Pump room UPS"},
    }
    assert any(
        f.get("text") == f"*Serial*\n{device.serial}" for b in body["blocks"] for f in b.get("fields", [])
    )
    assert request.headers["Content-Type"] == "application/json"


def test_teams_gets_an_adaptive_card(app, httpserver, owner, device):
    httpserver.expect_request("/teams", method="POST").respond_with_data("", status=202)
    add_policy(owner, teams_webhook_url=httpserver.url_for("/teams"))
    raise_event(device, *ON_BATTERY)
    deliver_due(clock().now())
    [(request, _)] = httpserver.log
    body = request.get_json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0]["text"] == "On battery · Pump room UPS"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Serial"] == device.serial and facts["Severity"] == "Warning"
    assert card["actions"][0]["url"].endswith(f"/devices/{device.id}")


def test_generic_webhook_follows_the_documented_schema(app, httpserver, owner, device):
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    add_policy(owner, webhook_url=httpserver.url_for("/hook"))
    raise_event(device, "0x0103", "critical", "UPS: The load exceeds 100% of rated capacity.")
    deliver_due(clock().now())
    [(request, _)] = httpserver.log
    body = request.get_json()
    assert body["schema"] == "upsconnect.alert/1"
    assert (body["event_type"], body["severity"], body["code"]) == ("overload", "critical", "0x0103")
    assert body["device"] == {
        "id": device.id,
        "name": "Pump room UPS",
        "serial": device.serial,
        "model": "SMT1500C",
        "site": "",
    }
    assert body["company"] == "Acme Water" and body["started_by"] is None
    assert body["ts"].endswith("Z")


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(app, httpserver, owner, device):
    answers = iter([Response("busy", status=503), Response("down", status=500), Response("ok", status=200)])
    httpserver.expect_request("/flaky", method="POST").respond_with_handler(lambda request: next(answers))
    add_policy(owner, webhook_url=httpserver.url_for("/flaky"))
    raise_event(device, *ON_BATTERY)
    [hook] = deliveries(channel="webhook")
    t0 = clock().now()
    deliver_due(t0, backoff_base_s=10)
    db.session.refresh(hook)
    assert (hook.status, hook.attempts, hook.last_error) == ("pending", 1, "HTTP 503 from 127.0.0.1")
    first_retry = hook.next_attempt_at  # 10 s, then 20 s, each give or take a quarter (jitter)
    assert t0 + timedelta(seconds=7.5) <= first_retry <= t0 + timedelta(seconds=12.5)
    deliver_due(first_retry, backoff_base_s=10)
    db.session.refresh(hook)
    assert hook.attempts == 2
    assert first_retry + timedelta(seconds=15) <= hook.next_attempt_at <= first_retry + timedelta(seconds=25)
    deliver_due(hook.next_attempt_at, backoff_base_s=10)
    db.session.refresh(hook)
    assert (hook.status, hook.attempts, hook.last_error) == ("sent", 3, "")
    assert len(httpserver.log) == 3


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "javascript:alert(1)", "127.0.0.1:8080/hook", "http://user:pw@127.0.0.1/"]
)
def test_webhook_urls_must_be_http(app, owner, url):
    with pytest.raises(policies.NotificationError) as refused:
        add_policy(owner, webhook_url=url)
    assert refused.value.field == "webhook_url"
