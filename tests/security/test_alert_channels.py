"""Text a device or a user wrote reaches Slack and Teams inert: no link, no mention, no formatting.

The hostile text travels the real path: a device event stored by the telemetry store, the fan-out, the
outbox worker, an HTTP POST to a local receiver (pytest-httpserver).
"""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.ingest import alert_on_batch
from portal.services.alerts import policies
from portal.services.alerts.channels import slack_escape, teams_escape
from portal.services.clock import clock
from portal.services.fleet import telemetry_store as store
from portal.services.licensing import entitlements
from portal.services.outbox.queue import deliver_due
from tests.portal.factories import make_device, make_user

HOSTILE = "<https://evil.example|Click> @channel <!here> <@U0123> [Click](https://evil.example) **now** & _x_"
HOSTILE_NAME = "<!everyone> [Pay](https://evil.example)"


@pytest.fixture
def hostile_device(app):
    owner = make_user(email="ops@victim.example")
    device = make_device(owner)
    device.name = HOSTILE_NAME
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()
    return owner, device


def _route(owner, **urls) -> None:
    policies.create_policy(
        owner,
        policies.PolicyInput(
            name="Chat", description="", event_types=["on_battery"], severities=["warning"],
            email_recipients="", **urls,
        ),
        now=clock().now(),
    )
    db.session.commit()


def _raise_hostile_event(device) -> None:
    now = clock().now()
    events = store.store_events(
        [store.EventRow(device.serial, 1, now.timestamp(), "0x0109", "warning", HOSTILE)], clock().today(), now=now
    )
    alert_on_batch(store.BatchResult(), events, now=now)
    db.session.commit()


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def _slack_markup(body: dict) -> list[str]:
    """Every string Slack parses as mrkdwn: the top-level text and every mrkdwn object."""
    texts = [body["text"]]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body["blocks"])
    return texts


def test_hostile_event_text_reaches_slack_as_plain_words(app, httpserver, hostile_device):
    owner, device = hostile_device
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    _route(owner, slack_webhook_url=httpserver.url_for("/slack"))
    _raise_hostile_event(device)
    assert deliver_due(clock().now()).sent == 1
    [(request, _)] = httpserver.log
    body = request.get_json()
    for text in _slack_markup(body):
        assert "<" not in text and ">" not in text, text  # no <link|label>, <!here>, <@user> survives
        assert not re.search(r"@(channel|here|everyone)\b", text, re.IGNORECASE), text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text  # a bare & would start an entity
    said = body["blocks"][1]["text"]["text"]
    assert "&lt;https://evil.example|Click&gt;" in said  # the words are all still there to read
    assert "@\u200bchannel" in said
    header = body["blocks"][0]["text"]
    assert header == {"type": "plain_text", "text": f"On battery · {HOSTILE_NAME}"}  # plain_text: never parsed


def test_hostile_event_text_reaches_teams_as_plain_words(app, httpserver, hostile_device):
    owner, device = hostile_device
    httpserver.expect_request("/teams", method="POST").respond_with_data("", status=202)
    _route(owner, teams_webhook_url=httpserver.url_for("/teams"))
    _raise_hostile_event(device)
    assert deliver_due(clock().now()).sent == 1
    [(request, _)] = httpserver.log
    card = request.get_json()["attachments"][0]["content"]
    texts = [card["body"][0]["text"], card["body"][1]["text"], *(f["value"] for f in card["body"][2]["facts"])]
    for text in texts:
        # every markdown character arrives escaped: no link, no bold, no italics
        assert not re.search(r"(?<!\\)[\[\]()*_`~>]", text), text
    assert r"\[Click\]\(https://evil.example\)" in card["body"][1]["text"]
    assert r"\[Pay\]" in card["body"][0]["text"]


def test_the_generic_webhook_carries_the_text_as_data(app, httpserver, hostile_device):
    owner, device = hostile_device
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _route(owner, webhook_url=httpserver.url_for("/hook"))
    _raise_hostile_event(device)
    deliver_due(clock().now())
    [(request, _)] = httpserver.log
    body = request.get_json()
    assert body["text"] == HOSTILE and body["device"]["name"] == HOSTILE_NAME  # JSON is data: nothing to escape


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("<https://evil.example|Click>", "&lt;https://evil.example|Click&gt;"),
        ("<!channel> now", "&lt;!channel&gt; now"),
        ("@channel @Here @everyone", "@\u200bchannel @\u200bHere @\u200beveryone"),
        ("a & b", "a &amp; b"),
        ("&lt; stays as typed", "&amp;lt; stays as typed"),
        ("mail@channels.example", "mail@channels.example"),
        ("On battery · 230 V", "On battery · 230 V"),
    ],
)
def test_slack_escape(typed, sent):
    assert slack_escape(typed) == sent


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("[Click](https://evil.example)", r"\[Click\]\(https://evil.example\)"),
        ("**bold** _it_ `code` ~x~", r"\*\*bold\*\* \_it\_ \`code\` \~x\~"),
        ("# Title\n- item\n1. first", "\\# Title\n\\- item\n\\1. first"),
        ("back\\slash", "back\\\\slash"),
        ("SMT1500C-2 at 50%", "SMT1500C-2 at 50%"),
    ],
)
def test_teams_escape(typed, sent):
    assert teams_escape(typed) == sent
