"""Offline alerts are debounced (issue 16 item 3), on the real brokers with a simulated fleet.

The grace period is injected (a few seconds instead of 300) so a "short" restart and a "long" outage
take seconds: a broker restart shorter than the grace period sends nothing; an outage longer than it
sends exactly one offline alert per device and one back-online alert when the device reports again.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from devicelink.brokers import (
    BrokerError,
    EmbeddedBroker,
    PrivateMosquitto,
    ensure_port_free,
    mosquitto_binary,
)
from portal.extensions import db
from portal.ingest import IngestWorker
from portal.models import DeviceStatus, NotificationDelivery, TelemetrySample
from portal.services.clock import clock
from portal.services.licensing import entitlements
from simulator.device import SimulatedDevice
from simulator.fleet import Fleet, SimClock
from tests.ingest.conftest import FACTORY_KEY, PORTAL_PASSWORD, PORTAL_USER, count, portal_url
from tests.portal.factories import make_device, make_user
from tests.support.waiting import wait_until

# Far above a 1 s broker restart plus amqtt's restart and every client's reconnect on a loaded machine
# (6 s was not: a restart sometimes took longer and rightly alerted), far below the long outage's wait.
GRACE_S = 15.0

pytestmark = pytest.mark.timeout(180)


def _alerts() -> dict[str, list[int]]:
    db.session.rollback()
    rows = db.session.execute(
        select(NotificationDelivery.event_type, NotificationDelivery.device_id).order_by(NotificationDelivery.id)
    ).all()
    found: dict[str, list[int]] = {}
    for event_type, device_id in rows:
        found.setdefault(event_type, []).append(device_id)
    return found


def _port_below_ephemeral_range() -> int:
    """A free port no client's outgoing connection can take: while the broker is down, clients
    reconnecting to 127.0.0.1:P from ephemeral ports may connect to themselves on P and hold it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with contextlib.suppress(BrokerError):
            ensure_port_free("127.0.0.1", port)
            return port
    raise RuntimeError("no free port below the ephemeral range")


@pytest.fixture(params=["embedded", pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
def broker(request, tmp_path, identities):
    """Each broker on ports outside the ephemeral range, so it can be restarted on the same ports."""
    users = {PORTAL_USER: PORTAL_PASSWORD}
    port = _port_below_ephemeral_range()
    if request.param == "embedded":
        instance = EmbeddedBroker(port=port, users=users, factory_key=FACTORY_KEY)
    else:
        if mosquitto_binary() is None:
            pytest.skip("mosquitto is not installed")
        instance = PrivateMosquitto.for_factory(
            tmp_path / "mosquitto", [i.serial for i in identities], FACTORY_KEY, users=users,
            port=port, service_port=_port_below_ephemeral_range(),
        )  # fmt: skip
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def fleet_world(app, broker, identities):
    """Claimed devices on a Standard trial, a real ingest worker with a short grace, and a simulated fleet."""
    owner = make_user(email="owner@customer.example", company="Acme Water")
    for identity in identities:
        device = make_device(owner, serial=identity.serial)
        entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()
    worker = IngestWorker(
        app, url=portal_url(broker), client_id=f"ingest-{uuid.uuid4().hex[:8]}", batch_size=100, flush_ms=50,
        offline_grace_s=GRACE_S, offline_pass_every_s=0.25,
    )  # fmt: skip
    worker.start()
    wait_until(worker.subscribed.is_set, 10, "the worker to subscribe")
    sim = SimClock(speed=1.0)
    devices = [SimulatedDevice(i, seed=3, sim_start_s=sim.start_s, factory_key=b"unused") for i in identities]
    for simulated, identity in zip(devices, identities, strict=True):
        simulated.password = identity.password
    fleet = Fleet(devices, broker.endpoint(), clock=sim, interval_s=0.2, backoff_min_s=0.1, backoff_max_s=0.5)
    fleet.start()
    wait_until(
        lambda: count(DeviceStatus, DeviceStatus.online.is_(True)) == len(identities), 20, "every device online"
    )
    yield worker
    fleet.stop()
    worker.stop()


def _start_again(broker) -> None:
    """The same port again (amqtt may hold it a while after its shutdown: over 15 s was seen under load)."""
    deadline = time.monotonic() + 45
    while True:
        try:
            broker.start()
            return
        except BrokerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _restart(broker, down_s: float) -> None:
    broker.stop()
    time.sleep(down_s)
    _start_again(broker)


def _every_device_reports_after(moment: float, identities) -> None:
    """Each device stored a sample received after ``moment`` (wall clock)."""
    before = {}
    db.session.rollback()
    for device_id, samples in db.session.execute(
        select(TelemetrySample.device_id, func.count()).group_by(TelemetrySample.device_id)
    ).all():
        before[device_id] = samples

    def grew() -> bool:
        db.session.rollback()
        now = dict(
            db.session.execute(
                select(TelemetrySample.device_id, func.count()).group_by(TelemetrySample.device_id)
            ).all()
        )
        return len(now) == len(identities) and all(now[d] > before.get(d, 0) for d in now)

    wait_until(grew, 30, "every device to report again")


def test_a_broker_restart_shorter_than_the_grace_period_sends_no_offline_alert(fleet_world, broker, identities):
    worker = fleet_world
    for _ in range(2):  # the bench restarts twice too
        _restart(broker, down_s=1.0)
        _every_device_reports_after(time.time(), identities)
    time.sleep(GRACE_S + 1)  # every pass that could have alerted has run
    assert _alerts() == {}
    assert worker.counters["alerts.offline"] == 0


def test_a_long_outage_alerts_once_per_device_and_once_back_online(fleet_world, broker, identities):
    worker = fleet_world
    broker.stop()
    try:
        wait_until(lambda: worker.counters["alerts.offline"] == len(identities), GRACE_S + 20, "the offline alerts")
        time.sleep(1.0)  # more passes during the same incident: nothing more
    finally:
        _start_again(broker)
    # ingest retries the broker with a backoff of up to 30 s (portal/ingest.py), and the outage was longer
    wait_until(lambda: worker.counters["alerts.back_online"] == len(identities), 90, "the recoveries")
    time.sleep(1.0)
    alerts = _alerts()
    devices = sorted(set(alerts["device_offline"]))
    assert len(devices) == len(identities)
    assert sorted(alerts["device_offline"]) == devices  # exactly one each (one recipient: the owner)
    assert sorted(alerts["device_online"]) == devices
    assert set(alerts) == {"device_offline", "device_online"}
