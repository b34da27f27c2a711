"""Fixtures for the device lab: brokers on free ports, identities, and an independent subscriber."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from devicelink.brokers import EmbeddedBroker, PrivateMosquitto  # noqa: E402
from devicelink.provisioning import LAB_FACTORY_KEY, manufacture  # noqa: E402
from tests.support import waiting

PORTAL_USER, PORTAL_PASSWORD = "portal", "portal-secret"


class Watcher:
    """An independent MQTT subscriber (the portal's view of the wire) with its own thread."""

    def __init__(
        self, host: str, port: int, topics: str = "ups/#", client_id: str = "watcher", clean: bool = True
    ):
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311
        )
        self.client.username_pw_set(PORTAL_USER, PORTAL_PASSWORD)
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe(topics, qos=1), self.connected.set())
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(10), "the watcher could not connect"
        time.sleep(0.1)  # let the SUBACK land before devices start

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(message)

    def on(self, topic_suffix: str) -> list[mqtt.MQTTMessage]:
        with self.lock:
            return [m for m in self.messages if m.topic.endswith(topic_suffix)]

    def topic(self, name: str) -> list[mqtt.MQTTMessage]:
        with self.lock:
            return [m for m in self.messages if m.topic == name]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def identities():
    return manufacture(6, seed=7)


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(users={PORTAL_USER: PORTAL_PASSWORD}, factory_key=LAB_FACTORY_KEY)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto(tmp_path, identities) -> Iterator[PrivateMosquitto]:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    broker = PrivateMosquitto.for_factory(
        tmp_path / "mosquitto",
        [i.serial for i in identities],
        LAB_FACTORY_KEY,
        users={PORTAL_USER: PORTAL_PASSWORD},
        autosave_interval_s=1,
    )
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(params=["embedded", "mosquitto"])
def broker(request):
    """Each broker kind in turn; the Mosquitto case skips where the binary is absent."""
    return request.getfixturevalue("embedded_broker" if request.param == "embedded" else "mosquitto")


@pytest.fixture
def watcher_factory():
    made: list[Watcher] = []

    def make(broker, **kwargs) -> Watcher:
        watcher = Watcher(broker.host, broker.service_port, **kwargs)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.close()



@pytest.fixture
def wait_until():
    """``wait_until(predicate, timeout_s=20, what=...)``: poll a condition instead of sleeping blindly."""
    return waiting.wait_until
