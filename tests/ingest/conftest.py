"""Brokers, device publishers and ingest workers for the ingest tests: free ports, temp dirs, no leaks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from devicelink import contract
from devicelink.brokers import EmbeddedBroker, PrivateMosquitto, mosquitto_binary
from devicelink.contract import Channel
from devicelink.provisioning import DeviceIdentity, manufacture
from portal.extensions import db
from portal.ingest import IngestWorker
from tests.support.waiting import wait_until

FACTORY_KEY = b"ingest-test-factory-key"
PORTAL_USER, PORTAL_PASSWORD = "portal", "portal-secret"
ROOT = Path(__file__).resolve().parents[2]


def count(model, *where) -> int:
    """Rows as committed right now (the worker writes from another thread or process)."""
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture(scope="session")
def identities() -> list[DeviceIdentity]:
    return manufacture(4, seed=11, factory_key=FACTORY_KEY)


@pytest.fixture(params=["embedded", pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
def broker(request, tmp_path, identities):
    """Each broker the portal supports, with device logins and the portal's own user."""
    users = {PORTAL_USER: PORTAL_PASSWORD}
    if request.param == "embedded":
        instance = EmbeddedBroker(users=users, factory_key=FACTORY_KEY)
    else:
        if mosquitto_binary() is None:
            pytest.skip("mosquitto is not installed")
        instance = PrivateMosquitto.for_factory(
            tmp_path / "mosquitto", [i.serial for i in identities], FACTORY_KEY, users=users
        )
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def mosquitto(tmp_path, identities):
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    instance = PrivateMosquitto.for_factory(
        tmp_path / "mosquitto",
        [i.serial for i in identities],
        FACTORY_KEY,
        users={PORTAL_USER: PORTAL_PASSWORD},
    )
    instance.start()
    yield instance
    instance.stop()


def portal_url(broker) -> str:
    return f"mqtt://{PORTAL_USER}:{PORTAL_PASSWORD}@{broker.host}:{broker.service_port}"


class DevicePublisher:
    """A device's own MQTT login, publishing at QoS 1 and waiting for the broker's acknowledgements."""

    def __init__(self, broker, identity: DeviceIdentity) -> None:
        self.identity = identity
        self.serial = identity.serial
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=identity.serial, protocol=mqtt.MQTTv311
        )
        self.client.username_pw_set(identity.username, identity.password)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        wait_until(self.client.is_connected, 10, f"{identity.serial} to connect")
        self.seq = 1000

    def raw(self, topic: str, payload: bytes | str, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=1, retain=retain)

    def send(
        self, channel: Channel, payload, retain: bool = False, serial: str | None = None
    ) -> mqtt.MQTTMessageInfo:
        return self.raw(contract.topic(serial or self.serial, channel), contract.encode(payload), retain)

    def hello(self) -> None:
        hello = contract.hello_payload(
            model=self.identity.model, sku=self.identity.model, serial=self.serial, firmware=self.identity.firmware,
            battery_type="lead-acid", outlet_groups=["Main Outlets", "Outlet Group 1"], mac=self.identity.mac,
        )  # fmt: skip
        self.send(Channel.HELLO, hello, retain=True)
        self.send(Channel.STATE, contract.STATE_ONLINE, retain=True).wait_for_publish(10)

    def telemetry(self, seq: int | None = None, **variables) -> int:
        if seq is None:
            self.seq += 1
            seq = self.seq
        payload = contract.telemetry_payload(  # now: the contract bounds a device's clock skew
            ts=round(time.time(), 3), seq=seq, variables={"ups.status": "OL", "ups.load": 31.5, **variables}
        )
        self.send(Channel.TELEMETRY, payload)
        return seq

    def flush(self) -> None:
        """Wait until the broker has acknowledged everything published so far."""
        self.raw(
            contract.topic(self.serial, Channel.STATE), contract.STATE_ONLINE, retain=True
        ).wait_for_publish(30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def device(broker, identities) -> Iterator[Callable[[int], DevicePublisher]]:
    """``device(i)``: a connected publisher for the i-th identity."""
    made: list[DevicePublisher] = []

    def connect(index: int = 0) -> DevicePublisher:
        made.append(DevicePublisher(broker, identities[index]))
        return made[-1]

    yield connect
    for publisher in made:
        publisher.close()


@pytest.fixture
def worker(app, broker) -> Iterator[IngestWorker]:
    """The real ingest worker in this process, with a fresh persistent session."""
    instance = IngestWorker(
        app, url=portal_url(broker), client_id=f"ingest-{uuid.uuid4().hex[:8]}", batch_size=100, flush_ms=50
    )
    instance.start()
    wait_until(instance.subscribed.is_set, 10, "the worker to subscribe")
    yield instance
    instance.stop()


class IngestProcess:
    """``flask ingest`` as a child process, so it can be killed like a real deployment's worker."""

    def __init__(self, database_url: str, mqtt_url: str, log_path: Path, *args: str, kind: str = "") -> None:
        self.env = {
            **os.environ,
            "FLASK_APP": "portal",
            "UPSCONNECT_DATABASE_URL": database_url,
            "UPSCONNECT_MQTT_URL": mqtt_url,
            "UPSCONNECT_MQTT_BROKER_KIND": kind,
            "UPSCONNECT_SECRET_KEY": "test-secret",
            "UPSCONNECT_FACTORY_KEY": FACTORY_KEY.decode(),
            "UPSCONNECT_LAB_MODE": "0",
        }
        self.args = args
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> IngestProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "ingest", "--stats-every-s", "1", *self.args],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: anything it started goes too
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


@pytest.fixture
def ingest_process(app, tmp_path) -> Iterator[Callable[..., IngestProcess]]:
    """``ingest_process(mqtt_url, *args)``: start ``flask ingest`` on the test's database; killed at the end.

    Each worker of a group gets its own ``log_name``, so its counters can be read apart.
    """
    started: list[IngestProcess] = []

    def start(mqtt_url: str, *args: str, kind: str = "", log_name: str = "ingest.log") -> IngestProcess:
        process = IngestProcess(app.config["SQLALCHEMY_DATABASE_URI"], mqtt_url, tmp_path / log_name, *args, kind=kind)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.kill()
