"""`make run` with Mosquitto: a UPS a NUT bridge registered gets its broker login from the lab stack."""

from __future__ import annotations

import time
from datetime import datetime

import paho.mqtt.client as mqtt
import pytest

from devicelink.brokers import PrivateMosquitto, mosquitto_binary
from devicelink.provisioning import device_password
from portal.extensions import db
from portal.lab_stack import provision_bridged_devices
from portal.models import Device
from portal.services.fleet import nut_bridges
from tests.portal.factories import make_device, make_user

KEY = b"test-factory-key"


def _login_code(port: int, serial: str) -> int:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=serial)
    client.username_pw_set(serial, device_password(KEY, serial))
    result = {}
    client.on_connect = lambda c, u, flags, reason, props: result.setdefault("code", reason.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for _ in range(100):
            if "code" in result:
                return result["code"]
            time.sleep(0.05)
        raise AssertionError("no CONNACK")
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed")
def test_bridged_serials_get_a_mosquitto_login(app, tmp_path):
    bridge = nut_bridges.create_bridge(make_user(), "nas-01", "", now=datetime(2026, 12, 2)).bridge
    db.session.add(Device(serial="AS1316113420", model="Smart-UPS 750", first_seen_at=datetime(2026, 12, 2), bridge_id=bridge.id))
    make_device(serial="AS2611000001")  # a SmartConnect device: not the stack's to add
    db.session.commit()
    broker = PrivateMosquitto(tmp_path / "mosquitto", users={"portal": "pw"})
    broker.start()
    try:
        assert _login_code(broker.port, "AS1316113420") != 0  # not in the password file yet
        known: set[str] = set()
        assert provision_bridged_devices(app, broker, KEY, known) == 1
        assert known == {"AS1316113420"}
        assert _login_code(broker.port, "AS1316113420") == 0
        assert provision_bridged_devices(app, broker, KEY, known) == 0  # nothing new: the file is not rewritten
    finally:
        broker.stop()
