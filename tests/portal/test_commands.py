"""Remote commands: gated by plan, published over a real broker, refused clearly when they cannot go."""

import json
import queue
from datetime import datetime

import paho.mqtt.client as mqtt
import pytest

from devicelink.brokers import EmbeddedBroker, free_port
from devicelink.contract import Channel, topic
from devicelink.provisioning import device_password
from portal.extensions import db
from portal.models import CompanyKind, DeviceCommand, DeviceStatus, OrderChannel
from portal.services.clock import clock
from portal.services.licensing import entitlements
from tests.portal.factories import login, make_device, make_user, share

FACTORY_KEY = b"test-factory-key"
PORTAL_PASSWORD = "portal-secret"


@pytest.fixture
def broker():
    with EmbeddedBroker(users={"portal": PORTAL_PASSWORD}, factory_key=FACTORY_KEY) as running:
        yield running


@pytest.fixture
def linked_app(app, broker):
    from portal import device_link

    app.config["MQTT_URL"] = f"mqtt://portal:{PORTAL_PASSWORD}@127.0.0.1:{broker.service_port}"
    device_link.init_app(app)
    yield app
    app.extensions["upsconnect.publisher"].close()


class DeviceInbox:
    """A device's own MQTT session, receiving what the portal sends to ups/<serial>/cmd."""

    def __init__(self, port: int, serial: str) -> None:
        self.messages: queue.Queue = queue.Queue()
        subscribed = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=serial)
        self.client.username_pw_set(serial, device_password(FACTORY_KEY, serial))
        self.client.on_message = lambda c, u, message: self.messages.put(json.loads(message.payload))
        self.client.on_subscribe = lambda *args: subscribed.put(True)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic(serial, Channel.CMD), qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        subscribed.get(timeout=5)

    def next(self, timeout_s: float = 5.0) -> dict:
        return self.messages.get(timeout=timeout_s)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _online(device):
    db.session.add(DeviceStatus(device_id=device.id, online=True, last_seen_at=clock().now(), variables={}))
    db.session.commit()


def _give(device, owner, sku):
    code = entitlements.place_order(
        ordered_by=owner, channel=OrderChannel.ONLINE, sku=sku, quantity=1, installer_email="a@b.example",
        today=datetime(2023, 1, 1).date(), now=datetime(2023, 1, 1),
    )
    entitlements.assign_from_code(owner, code.code, [device], today=clock().today(), now=clock().now())
    db.session.commit()


def _send(client, device, **form):
    return client.post(f"/devices/{device.id}/commands", data=form)


def test_self_test_reaches_the_device_on_standard(linked_app, client, broker):
    owner = make_user()
    device = make_device(owner, serial="AS2612000001")
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    _online(device)
    inbox = DeviceInbox(broker.port, device.serial)
    try:
        login(client, owner)
        response = _send(client, device, type="test.battery.start")
        assert response.status_code == 303
        message = inbox.next()
        row = db.session.scalar(db.select(DeviceCommand))
        assert message["type"] == "test.battery.start" and message["id"] == row.id and row.status == "sent"
        page = client.get(f"/devices/{device.id}").get_data(as_text=True)
        assert "test.battery.start" in page
    finally:
        inbox.close()


def test_outlet_reboot_needs_advanced_and_a_shared_partner_may_run_it(linked_app, client, broker):
    owner, partner = make_user(), make_user(CompanyKind.PARTNER)
    device = make_device(owner, serial="AS2612000002")
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    share(device, partner)
    _online(device)
    login(client, partner)
    _send(client, device, type="outlet.group.cycle", group="Outlet Group 1")
    assert db.session.scalar(db.select(db.func.count(DeviceCommand.id))) == 0
    assert "needs the Advanced plan" in client.get(f"/devices/{device.id}").get_data(as_text=True)

    _give(device, owner, "SCADV1Y")
    inbox = DeviceInbox(broker.port, device.serial)
    try:
        _send(client, device, type="outlet.group.cycle", group="Outlet Group 1")
        message = inbox.next()
        assert message["type"] == "outlet.group.cycle" and message["args"] == {"group": "Outlet Group 1"}
    finally:
        inbox.close()


@pytest.mark.parametrize(
    ("setup", "form", "message"),
    [
        ("basic", {"type": "test.battery.start"}, "needs the Standard plan"),
        ("offline", {"type": "test.battery.start"}, "The device is offline"),
        ("trial", {"type": "input.sensitivity", "sensitivity": "Extreme"}, "settings are not valid"),
        ("trial", {"type": "reformat.disk"}, "Unknown command"),
    ],
)
def test_refused_commands_say_why_and_send_nothing(linked_app, client, setup, form, message):
    owner = make_user()
    device = make_device(owner)
    if setup != "basic":
        entitlements.start_trial(device, today=clock().today(), now=clock().now())
        db.session.commit()
    if setup != "offline":
        _online(device)
    login(client, owner)
    _send(client, device, **form)
    assert message in client.get(f"/devices/{device.id}").get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(DeviceCommand.id))) == 0


def test_unreachable_broker_is_recorded_as_failed(app, client):
    from portal import device_link

    app.config["MQTT_URL"] = f"mqtt://portal:x@127.0.0.1:{free_port()}"
    device_link.init_app(app)
    owner = make_user()
    device = make_device(owner)
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    _online(device)
    login(client, owner)
    _send(client, device, type="test.battery.start")
    row = db.session.scalar(db.select(DeviceCommand))
    assert row.status == "failed" and "broker" in row.message


def test_commands_nobody_answers_time_out(linked_app, client):
    from datetime import timedelta

    from portal.services.fleet import commands

    owner = make_user()
    device = make_device(owner)
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    _online(device)
    login(client, owner)
    _send(client, device, type="test.battery.start")
    assert commands.expire_overdue(clock().now() + timedelta(minutes=3)) == 1
    assert db.session.scalar(db.select(DeviceCommand)).status == "timed_out"
