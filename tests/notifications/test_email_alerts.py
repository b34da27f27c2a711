"""Events become email alerts through the outbox and the `flask notify` worker, over real SMTP."""

from __future__ import annotations

import re
from datetime import timedelta

from portal.extensions import db
from portal.models import NotificationDelivery
from portal.services.alerts.event_types import event_type_for
from portal.services.alerts.unsubscribe import UNSUBSCRIBE_SALT
from portal.services.clock import clock
from portal.services.outbox.queue import deliver_due
from tests.notifications.conftest import ON_BATTERY, deliveries, raise_event


def run_worker(app) -> str:
    result = app.test_cli_runner().invoke(args=["notify", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def test_event_mapping_is_data():
    assert event_type_for("0x0109", "UPS: On battery power ...") == "on_battery"
    assert event_type_for("0x010F", "") == "low_battery"
    assert event_type_for("0x0119", "") == "replace_battery"
    assert event_type_for("0x0103", "") == "overload"
    assert event_type_for("", "UPS: Self-Test failed.") == "self_test_failed"
    assert event_type_for("0x010A", "UPS: No longer on battery power.") is None


def test_on_battery_is_queued_with_the_event_and_mailed_by_the_worker(mail_app, smtp_server, device):
    raise_event(device, *ON_BATTERY)
    [row] = deliveries()
    assert (row.status, row.channel, row.target, row.event_type) == (
        "pending",
        "email",
        "owner@customer.example",
        "on_battery",
    )
    assert smtp_server.messages == []  # the ingest path never talks to SMTP

    assert "sent 1" in run_worker(mail_app)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "owner@customer.example"
    assert message["Subject"] == "[Warning] On battery · Pump room UPS"
    text = message.get_body(("plain",)).get_content()
    assert "UPS: On battery power in response to an input power problem." in text
    assert device.serial in text and "Acme Water" in text
    assert "http://portal.test/unsubscribe/" in text
    html = message.get_body(("html",)).get_content()
    assert "Unsubscribe</a>" in html
    db.session.refresh(row)
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 1, True)

    assert "sent 0" in run_worker(mail_app)  # nothing sent twice
    assert len(smtp_server.messages) == 1


def test_informational_events_and_unmapped_codes_raise_nothing(mail_app, device):
    raise_event(device, "0x010A", "informational", "UPS: No longer on battery power.", seq=1)
    raise_event(device, "0x0109", "informational", "UPS: On battery power (test).", seq=2)
    assert deliveries() == []  # default policy: critical and warning only


def test_a_redelivered_event_alerts_once(mail_app, device):
    raise_event(device, *ON_BATTERY, seq=7)
    raise_event(device, *ON_BATTERY, seq=7)
    assert len(deliveries()) == 1


def test_mail_server_down_retries_with_backoff_then_fails(app, device):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9)
    raise_event(device, *ON_BATTERY)
    start = clock().now()
    stats = deliver_due(start, max_attempts=3, backoff_base_s=30)
    assert stats.retried == 1
    [row] = deliveries()
    assert row.status == "pending" and row.attempts == 1 and "127.0.0.1:9" in row.last_error
    first_retry = row.next_attempt_at
    # 30 s give or take a quarter: jitter keeps deliveries that failed together from retrying together
    assert start + timedelta(seconds=22.5) <= first_retry <= start + timedelta(seconds=37.5)
    assert deliver_due(first_retry - timedelta(seconds=1)).retried == 0  # not due yet
    deliver_due(first_retry, max_attempts=3, backoff_base_s=30)
    db.session.refresh(row)
    assert row.attempts == 2  # then 60 s, give or take a quarter
    assert first_retry + timedelta(seconds=45) <= row.next_attempt_at <= first_retry + timedelta(seconds=75)
    deliver_due(row.next_attempt_at, max_attempts=3, backoff_base_s=30)
    db.session.refresh(row)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 3, None)


def unsubscribe_path(message) -> str:
    url = re.search(r"http://portal\.test(/unsubscribe/\S+)", message.get_body(("plain",)).get_content())
    return url.group(1)


def test_unsubscribe_link_works_signed_out_and_stops_the_mail(mail_app, smtp_server, client, device):
    raise_event(device, *ON_BATTERY, seq=1)
    run_worker(mail_app)
    path = unsubscribe_path(smtp_server.wait_for(1)[0])
    page = client.get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "owner@customer.example" in body and "Unsubscribe" in body
    done = client.post(path)
    assert done.status_code == 200
    assert "unsubscribed" in done.get_data(as_text=True).lower()
    raise_event(device, *ON_BATTERY, seq=2)
    assert len(deliveries()) == 1  # nothing new for this address


def test_forged_or_tampered_unsubscribe_tokens_are_refused(mail_app, smtp_server, client, device):
    raise_event(device, *ON_BATTERY)
    run_worker(mail_app)
    path = unsubscribe_path(smtp_server.wait_for(1)[0])
    token = path.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get(f"/unsubscribe/{tampered}").status_code == 404
    assert client.post(f"/unsubscribe/{tampered}").status_code == 404
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer("not-the-secret", salt=UNSUBSCRIBE_SALT).dumps(
        {"e": "owner@customer.example", "c": device.owner_company_id, "s": "policy:1"}
    )
    assert client.post(f"/unsubscribe/{forged}").status_code == 404
    assert db.session.query(NotificationDelivery).count() == 1
