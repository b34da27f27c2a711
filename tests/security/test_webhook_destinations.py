"""Webhooks go to public internet hosts only (loopback too in lab mode), checked when a policy is saved
and again when sending, where the portal connects to the very address it checked."""

from __future__ import annotations

import socket
import ssl
import subprocess

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.ingest import alert_on_batch
from portal.models import NotificationDelivery, NotificationPolicy
from portal.services.alerts import policies
from portal.services.clock import clock
from portal.services.fleet import telemetry_store as store
from portal.services.licensing import entitlements
from portal.services.outbox.queue import deliver_due
from tests.portal.factories import login, make_device, make_user

REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "ftp://93.184.215.14/hook",
    "javascript:alert(1)",
    "http://user:pw@93.184.215.14/hook",
    "http://no-such-host.invalid/hook",
]
FIELDS = ("slack_webhook_url", "teams_webhook_url", "webhook_url")
POLICY = {
    "name": "Chat",
    "description": "",
    "event_types": ["on_battery"],
    "severities": ["warning"],
    "email_recipients": "",
    "enabled": "y",
}


@pytest.fixture
def production(app):
    """The portal outside lab mode, as a customer's install runs it."""
    app.config["LAB_MODE"] = False
    yield app
    app.config["LAB_MODE"] = True


@pytest.fixture
def owner(app):
    return make_user(email="owner@hooks.example")


def _policy_count() -> int:
    return db.session.scalar(select(func.count()).select_from(NotificationPolicy))


@pytest.mark.parametrize("url", REFUSED)
@pytest.mark.parametrize("field", FIELDS)
def test_an_internal_address_is_refused_at_save(production, client, owner, field, url):
    login(client, owner)
    before = _policy_count()
    response = client.post("/notifications/policies", data={**POLICY, field: url})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "public internet addresses only" in page or "could not be found" in page or "must start with" in page
    assert _policy_count() == before


def test_a_public_address_is_accepted_at_save(production, client, owner):
    login(client, owner)
    response = client.post("/notifications/policies", data={**POLICY, "webhook_url": "https://93.184.215.14/hook"})
    assert response.status_code == 303


def test_lab_mode_allows_loopback_only(app, client, owner):
    login(client, owner)
    assert client.post("/notifications/policies", data={**POLICY, "webhook_url": "http://127.0.0.1:9/h"}).status_code == 303
    refused = client.post("/notifications/policies", data={**POLICY, "webhook_url": "http://10.0.0.8/h"})
    assert refused.status_code == 422 and "private address" in refused.get_data(as_text=True)


def _hook_event(owner, url: str) -> None:
    device = make_device(owner)
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    policies.create_policy(
        owner,
        policies.PolicyInput(
            name="Hook", description="", event_types=["on_battery"], severities=["warning"],
            email_recipients="", webhook_url=url,
        ),
        now=clock().now(),
    )
    now = clock().now()
    events = store.store_events(
        [store.EventRow(device.serial, 1, now.timestamp(), "0x0109", "warning", "On battery.")], clock().today(), now=now
    )
    alert_on_batch(store.BatchResult(), events, now=now)
    db.session.commit()


def _webhook_row() -> NotificationDelivery:
    return db.session.scalars(select(NotificationDelivery).where(NotificationDelivery.channel == "webhook")).one()


def test_an_address_that_became_internal_is_refused_at_send(app, httpserver, owner):
    """Saved while allowed (lab mode), sent by a portal that is not: checked again, nothing leaves."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _hook_event(owner, httpserver.url_for("/hook"))
    app.config["LAB_MODE"] = False
    try:
        deliver_due(clock().now())
    finally:
        app.config["LAB_MODE"] = True
    row = _webhook_row()
    assert row.status == "pending" and "loopback address" in row.last_error
    assert httpserver.log == []


def test_the_connection_goes_to_the_address_that_was_checked(app, httpserver, owner, monkeypatch):
    """DNS rebinding: the name resolves to an allowed address at save and at send, to an internal one on
    any later lookup; the portal resolves once per send and connects to what it checked, with the name
    in the Host header."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    port = httpserver.port
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolver(host, *args, **kwargs):
        if host != "rebind.example":
            return real(host, *args, **kwargs)
        asked.append(host)
        address = "127.0.0.1" if len(asked) <= 2 else "10.9.9.9"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    _hook_event(owner, f"http://rebind.example:{port}/hook")
    deliver_due(clock().now())
    assert asked == ["rebind.example", "rebind.example"]  # once at save, once at send
    assert _webhook_row().status == "sent"
    [(request, _)] = httpserver.log
    assert request.headers["Host"] == f"rebind.example:{port}"


def test_a_redirect_is_not_followed(app, httpserver, owner):
    """A receiver cannot bounce the portal to an internal address: a 3xx is a failed delivery."""
    httpserver.expect_request("/hook", method="POST").respond_with_data(
        "", status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    _hook_event(owner, httpserver.url_for("/hook"))
    deliver_due(clock().now())
    row = _webhook_row()
    assert row.status == "pending" and row.last_error == "HTTP 307 from 127.0.0.1"
    assert len(httpserver.log) == 1


def _tls_receiver(tmp_path, name: str):
    """A local HTTPS receiver with a certificate for `name`, and that certificate's path (to trust it)."""
    from pytest_httpserver import HTTPServer

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/hook", method="POST").respond_with_data("ok")
    server.start()
    return server, cert


def _resolve(monkeypatch, name: str, address: str) -> None:
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)


@pytest.mark.parametrize("trusted", [True, False])
def test_https_to_the_checked_address_verifies_the_certificate_for_the_host_name(
    app, owner, tmp_path, monkeypatch, trusted
):
    """Pinning the address does not weaken TLS: the certificate must be valid for the URL's host name."""
    server, cert = _tls_receiver(tmp_path, "hooks.test")
    _resolve(monkeypatch, "hooks.test", "127.0.0.1")
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the receiver's certificate is the only one trusted
    try:
        _hook_event(owner, f"https://hooks.test:{server.port}/hook")
        deliver_due(clock().now())
        received = len(server.log)
    finally:
        server.clear()
        server.stop()
    row = _webhook_row()
    if trusted:
        assert row.status == "sent" and received == 1
    else:
        assert row.status == "pending" and "certificate verify failed" in row.last_error and received == 0
