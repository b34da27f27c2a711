"""Links in what the background workers send start with UPSCONNECT_PUBLIC_URL: a device's event on a real
broker, `flask ingest` raising the alert, `flask notify` mailing it to a real SMTP server."""

from __future__ import annotations

import re
import time

from devicelink import contract
from devicelink.contract import Channel
from portal.extensions import db
from portal.models import NotificationDelivery
from portal.services.clock import clock
from portal.services.licensing import entitlements
from tests.ingest.conftest import DevicePublisher, count, portal_url
from tests.notifications.test_notify_worker import NotifyProcess
from tests.portal.factories import make_device, make_user
from tests.support.waiting import wait_until

PUBLIC = "http://ups.example.net:8443"


def test_an_alert_email_sent_by_the_workers_links_to_the_configured_public_url(
    app, mosquitto, identities, ingest_process, smtp_server, monkeypatch, tmp_path
):
    monkeypatch.setenv("UPSCONNECT_PUBLIC_URL", PUBLIC)  # what the worker processes are started with
    owner = make_user(email="owner@customer.example", company="Acme Water")
    device = make_device(owner, serial=identities[0].serial)
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()
    ingest = ingest_process(portal_url(mosquitto), "--client-id", "ingest-links")
    wait_until(lambda: "subscribed at QoS 1" in ingest.log_text(), 20, "the worker to subscribe")
    ups = DevicePublisher(mosquitto, identities[0])
    try:
        ups.send(Channel.EVENT, contract.event_payload(
            ts=time.time(), seq=5, code="0x0109", severity="warning",
            text="UPS: On battery power in response to an input power problem.",
        )).wait_for_publish(10)  # fmt: skip
    finally:
        ups.close()
    wait_until(lambda: count(NotificationDelivery), 20, "the alert to be queued by flask ingest")

    app.config["MAIL_PORT"] = smtp_server.port
    notify = NotifyProcess(app, tmp_path / "notify.log", "--once")
    assert notify.proc.wait(60) == 0, notify.log_text()
    [message] = smtp_server.wait_for(1)
    text = message.get_body(("plain",)).get_content()
    links = re.findall(r"https?://\S+", text)
    assert links, text
    assert all(link.startswith(PUBLIC + "/") for link in links), links
    assert f"{PUBLIC}/devices/{device.id}" in links and any("/unsubscribe/" in link for link in links)
    assert ingest.terminate(5) == 0
