"""What the machines running the portal read: /healthz, /metrics (web and `flask notify --metrics-port`),
and the logs in text or JSON lines at the configured level."""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.request

import pytest

from portal.extensions import db
from portal.services.clock import clock
from portal.services.outbox.queue import enqueue
from tests.conftest import make_app
from tests.notifications.test_notify_worker import NotifyProcess
from tests.portal.factories import make_user
from tests.support.waiting import wait_until


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_signed_out_with_the_database_and_no_broker_configured(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "not configured"}


def test_healthz_is_503_when_the_broker_is_unreachable_and_names_no_secret(app, client):
    app.config["MQTT_URL"] = f"mqtt://portal:s3cret-password@127.0.0.1:{_closed_port()}"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok", "broker": "unreachable"}
    assert "s3cret" not in response.get_data(as_text=True) and "127.0.0.1" not in response.get_data(as_text=True)


def test_healthz_sees_a_broker_that_accepts_connections(app, client):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        app.config["MQTT_URL"] = f"mqtt://portal:x@127.0.0.1:{listener.getsockname()[1]}"
        assert client.get("/healthz").get_json()["broker"] == "ok"


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path):
    app = make_app(f"postgresql+psycopg://nobody:pw@127.0.0.1:{_closed_port()}/nothing", tmp_path)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "unreachable" and body["status"] == "unavailable"
    assert "nobody" not in response.get_data(as_text=True)


def test_metrics_show_requests_and_the_outbox_backlog_to_this_machine(app, client):
    owner = make_user(email="owner@customer.example")
    enqueue(owner.company_id, "email", "a@b.example", "Hi", {"text": "x"}, event_type="on_battery", now=clock().now())
    db.session.commit()
    client.get("/login")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "upsconnect_notify_pending 1.0" in text
    assert "upsconnect_notify_oldest_pending_age_seconds" in text
    assert 'upsconnect_http_requests_total{endpoint="auth.login",method="GET",status="200"}' in text


@pytest.mark.parametrize(
    "environ",
    [
        {"REMOTE_ADDR": "203.0.113.9"},  # another machine
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},  # through a proxy on this one
    ],
)
def test_metrics_are_not_found_from_elsewhere(client, environ):
    assert client.get("/metrics", environ_base=environ).status_code == 404


def test_with_a_metrics_token_only_its_bearer_reads_the_metrics(app, client):
    app.config["METRICS_TOKEN"] = "scrape-token-123"
    assert client.get("/metrics").status_code == 404  # even from this machine
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"}, environ_base=remote)
    assert response.status_code == 200 and "upsconnect_notify_pending" in response.get_data(as_text=True)


def _due_email(app, smtp_server) -> None:
    app.config["MAIL_PORT"] = smtp_server.port
    owner = make_user(email="owner@customer.example")
    enqueue(owner.company_id, "email", "a@b.example", "Hi", {"text": "x"}, event_type="on_battery", now=clock().now())
    db.session.commit()


def test_notify_logs_each_delivery_as_json_lines_and_serves_its_metrics(app, smtp_server, tmp_path):
    _due_email(app, smtp_server)
    port = _closed_port()
    notify = NotifyProcess(app, tmp_path / "notify.log", "--metrics-port", str(port), env={"UPSCONNECT_LOG_FORMAT": "json"})
    try:
        smtp_server.wait_for(1, timeout_s=30)

        def scrape() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    return response.read().decode()
            except OSError:
                return ""

        text = wait_until(lambda: 'upsconnect_notify_attempts_total{outcome="sent"} 1.0' in scrape() and scrape(), 20,
                          "the worker's metrics to count the delivery")  # fmt: skip
        assert "upsconnect_notify_pending 0.0" in text
    finally:
        notify.proc.send_signal(signal.SIGTERM)
        assert notify.proc.wait(5) == 0
    lines = [json.loads(line) for line in notify.log_text().splitlines() if line.strip()]
    sent = [line for line in lines if line["message"].endswith(": sent, attempt 1")]
    assert len(sent) == 1 and sent[0]["level"] == "INFO" and sent[0]["logger"] == "upsconnect.notify"
    assert {"ts", "pid", "host"} <= sent[0].keys()


def test_the_log_level_setting_silences_info(app, smtp_server, tmp_path):
    _due_email(app, smtp_server)
    notify = NotifyProcess(app, tmp_path / "notify.log", "--once", env={"UPSCONNECT_LOG_LEVEL": "warning"})
    assert notify.proc.wait(60) == 0
    smtp_server.wait_for(1)
    assert "sent, attempt 1" not in notify.log_text()


def test_healthz_answers_plain_http_probes_when_the_portal_forces_https(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'https.db'}", tmp_path, HTTPS=True)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    assert client.get("/login").status_code == 302  # pages go to HTTPS
    assert client.get("/healthz").status_code == 200  # the probe does not


def test_the_web_process_mqtt_client_id_names_its_host_and_process():
    from portal.device_link import web_client_id

    assert web_client_id() == f"upsconnect-web-{socket.gethostname()}-{os.getpid()}"[:64]


def test_metrics_still_answer_when_the_database_does_not(tmp_path):
    app = make_app(f"postgresql+psycopg://nobody:pw@127.0.0.1:{_closed_port()}/nothing", tmp_path)
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "upsconnect_database_up 0.0" in text and "upsconnect_notify_pending" not in text


def test_a_metrics_port_already_taken_stops_the_worker_with_a_clear_message(app):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = app.test_cli_runner().invoke(args=["notify", "--once", "--metrics-port", str(port)])
    assert result.exit_code == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.output and "Traceback" not in result.output
