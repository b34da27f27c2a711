"""`flask notify` survives any one bad delivery, and a worker that dies mid-send loses nothing and
duplicates nothing a receiver cannot recognise: real HTTP to a local receiver that can stall, real SMTP,
the worker as a real process killed with SIGKILL or stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import NotificationDelivery, NotificationPolicy
from portal.services.alerts import policies
from portal.services.clock import clock
from portal.services.outbox.queue import enqueue
from tests.conftest import notify_once
from tests.notifications.conftest import ON_BATTERY, deliveries, raise_event
from tests.notifications.test_webhooks import add_policy
from tests.portal.factories import login
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SLACK_WITH_A_SPACE = "https://hooks.slack.com/services/T000/B000/abc def"


class StallingReceiver:
    """A webhook receiver on a free local port that keeps every request; while ``stalling`` it reads the
    request and never answers (a receiver hung mid-delivery)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict]] = []
        self.stalling = threading.Event()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                if receiver.stalling.is_set():
                    receiver.released.wait(60)
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    instance = StallingReceiver()
    instance.thread.start()
    yield instance
    instance.stop()


class NotifyProcess:
    """``flask notify`` as a child process on the test's database."""

    def __init__(self, app, log_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        overrides = env or {}
        env = {
            **os.environ,
            "FLASK_APP": "portal",
            "UPSCONNECT_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "UPSCONNECT_INSTANCE_PATH": str(Path(app.instance_path)),
            "UPSCONNECT_SECRET_KEY": "test-secret",
            "UPSCONNECT_FACTORY_KEY": "test-factory-key",
            "UPSCONNECT_LAB_MODE": "1",  # webhooks to loopback, as the lab's receiver is
            "UPSCONNECT_MAIL_SERVER": "127.0.0.1",
            "UPSCONNECT_MAIL_PORT": str(app.config["MAIL_PORT"]),
            "UPSCONNECT_LOG_LEVEL": "INFO",
            **overrides,
        }
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "notify", "--interval", "0.2", *args],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def notify_process(app, tmp_path):
    started: list[NotifyProcess] = []

    def start(*args: str, log_name: str = "notify.log") -> NotifyProcess:
        started.append(NotifyProcess(app, tmp_path / log_name, *args))
        return started[-1]

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(10)


def _webhook_row() -> NotificationDelivery:
    db.session.rollback()  # rows as the worker process committed them
    [row] = deliveries(channel="webhook")
    return row


def test_a_worker_killed_mid_delivery_loses_nothing_and_the_copy_has_the_same_id(
    app, owner, device, receiver, notify_process
):
    add_policy(owner, webhook_url=receiver.url)
    raise_event(device, *ON_BATTERY)
    receiver.stalling.set()
    first = notify_process("--lease", "3", log_name="first.log")
    wait_until(lambda: receiver.requests, 30, "the worker to post the webhook")
    first.proc.kill()  # SIGKILL while the receiver holds the request: no answer, no chance to log
    first.proc.wait(10)
    receiver.stalling.clear()
    receiver.released.set()

    second = notify_process("--lease", "3", log_name="second.log")
    wait_until(lambda: _webhook_row().status == "sent", 30, "the webhook to be delivered after the lease")
    row = _webhook_row()
    assert row.attempts == 2 and row.claimed_at is None and row.last_error == ""
    assert len(receiver.requests) == 2  # the first copy, perhaps processed, and the second
    (first_headers, first_body), (second_headers, second_body) = receiver.requests
    assert first_headers["webhook-id"] == second_headers["webhook-id"] == row.message_id  # idempotency key
    assert first_body["id"] == second_body["id"] == row.message_id  # and in the body
    log = second.log_text()
    assert f"delivery {row.id} ({row.message_id}, webhook, on_battery): re-delivery after lease expiry, attempt 2" in log
    assert f"delivery {row.id} ({row.message_id}, webhook, on_battery): sent, attempt 2" in log
    assert "sent, attempts 1" not in log
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(5) == 0


def test_sigterm_mid_delivery_stops_at_once_and_the_next_worker_sends_it_without_waiting_for_the_lease(
    app, owner, device, receiver, notify_process
):
    add_policy(owner, webhook_url=receiver.url)
    raise_event(device, *ON_BATTERY)
    receiver.stalling.set()
    first = notify_process(log_name="first.log")  # the default two-minute lease
    wait_until(lambda: receiver.requests, 30, "the worker to post the webhook")
    started = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(5) == 0
    assert time.monotonic() - started < 3, "SIGTERM waited for the stalled receiver"
    assert "stopped mid-delivery" in first.log_text()
    row = _webhook_row()
    assert row.status == "pending" and row.next_attempt_at <= clock().now()  # due again now, not in 2 min
    receiver.stalling.clear()
    receiver.released.set()

    second = notify_process(log_name="second.log")
    wait_until(lambda: _webhook_row().status == "sent", 20, "the next worker to send it")
    assert "re-delivery after lease expiry, attempt 2" in second.log_text()
    assert {headers["webhook-id"] for headers, _ in receiver.requests} == {row.message_id}


def test_a_malformed_webhook_url_or_a_transport_crash_fails_that_delivery_only(mail_app, smtp_server, client, owner, device):
    policy = db.session.scalar(select(NotificationPolicy).where(NotificationPolicy.company_id == owner.company_id))
    policy.slack_webhook_url = SLACK_WITH_A_SPACE  # saved before addresses were checked for spaces
    db.session.commit()
    raise_event(device, *ON_BATTERY)  # the owner's email, and the Slack message
    # a row the SMTP library refuses outright (a line break in a header): an exception, not a refusal
    enqueue(owner.company_id, "email", "owner@customer.example\nBcc: someone@else.example", "Odd", {"text": "x"},
            event_type="on_battery", now=clock().now())  # fmt: skip
    db.session.commit()

    assert notify_once(mail_app) == "sent 1, retrying 2, failed 0"  # the pass went on past both
    [message] = smtp_server.wait_for(1)
    [email] = deliveries(channel="email", status="sent")
    assert message["Message-ID"] == f"<{email.message_id}@upsconnect.local>"  # the outbox id: stable on retries
    [slack] = deliveries(channel="slack")
    assert (slack.status, slack.attempts) == ("pending", 1)
    assert slack.last_error == "A webhook address cannot contain spaces or control characters; copy it again " \
        "from Slack, Teams or your receiver."  # fmt: skip
    [odd] = deliveries(subject="Odd")
    assert (odd.status, odd.attempts) == ("pending", 1) and odd.last_error.startswith("Unexpected error: ValueError")

    for _ in range(4):  # five attempts in all, then given up
        clock().advance(timedelta(hours=2))
        db.session.commit()
        notify_once(mail_app)
    db.session.expire_all()
    assert (slack.status, slack.attempts, slack.next_attempt_at) == ("failed", 5, None)
    assert (odd.status, odd.attempts) == ("failed", 5)
    login(client, owner)
    log_page = client.get("/notifications/log?status=failed").get_data(as_text=True)
    assert "cannot contain spaces or control characters" in log_page
    assert "Unexpected error: ValueError" in log_page


def test_a_webhook_address_with_a_space_is_refused_when_saved(app, owner):
    with pytest.raises(policies.NotificationError) as refused:
        add_policy(owner, slack_webhook_url=SLACK_WITH_A_SPACE)
    assert refused.value.field == "slack_webhook_url"
    assert "cannot contain spaces" in refused.value.message
