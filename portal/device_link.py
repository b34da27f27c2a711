"""The web process's connection to the MQTT broker, used to send commands to devices."""

from __future__ import annotations

import json
import os
import socket
import threading

import paho.mqtt.client as mqtt
from flask import Flask, current_app

from devicelink.brokers import parse_mqtt_url
from devicelink.contract import Channel, topic

PUBLISH_TIMEOUT_S = 5.0


class CommandPublisher:
    """One paho client per process, connected on first use, reconnecting by itself."""

    def __init__(self, url: str) -> None:
        self.endpoint = parse_mqtt_url(url)
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _connected_client(self) -> mqtt.Client:
        with self._lock:
            if self._client is None:
                client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=web_client_id(), clean_session=True)
                if self.endpoint.username:
                    client.username_pw_set(self.endpoint.username, self.endpoint.password)
                if self.endpoint.tls:
                    client.tls_set()
                client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
                client.loop_start()
                self._client = client
            return self._client

    def publish(self, serial: str, payload: dict) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement; OSError when it does not come."""
        try:
            info = self._connected_client().publish(topic(serial, Channel.CMD), json.dumps(payload), qos=1)
            info.wait_for_publish(timeout=PUBLISH_TIMEOUT_S)
        except (OSError, RuntimeError, ValueError) as error:
            raise OSError(str(error) or "the broker did not acknowledge the command") from error
        if not info.is_published():
            raise OSError(f"the broker at {self.endpoint.url} did not acknowledge the command in {PUBLISH_TIMEOUT_S:.0f} s")

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.loop_stop()
                self._client.disconnect()
                self._client = None


def web_client_id() -> str:
    """``upsconnect-web-<host>-<pid>``: unique per web process (read at connect time: gunicorn forks
    after the app is made) and recognisable in the broker's log."""
    return f"upsconnect-web-{socket.gethostname()}-{os.getpid()}"[:64]


def init_app(app: Flask) -> None:
    url = app.config.get("MQTT_URL")
    app.extensions["upsconnect.publisher"] = CommandPublisher(url) if url else None


def publish_command(serial: str, payload: dict) -> None:
    """Send a command payload to a device; OSError when no broker is configured or reachable."""
    publisher = current_app.extensions.get("upsconnect.publisher")
    if publisher is None:
        raise OSError("no message broker is configured (UPSCONNECT_MQTT_URL)")
    publisher.publish(serial, payload)
