"""Fixtures for notifications: a customer with a device on its Standard trial, mail to a local server."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.ingest import alert_on_batch
from portal.models import Entitlement, NotificationDelivery
from portal.services.clock import clock
from portal.services.fleet import telemetry_store as store
from portal.services.licensing import entitlements
from tests.portal.factories import make_device, make_user


@pytest.fixture
def mail_app(app, smtp_server):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, PUBLIC_URL="http://portal.test")
    return app


@pytest.fixture
def owner(app):
    return make_user(email="owner@customer.example", company="Acme Water")


@pytest.fixture
def device(owner):
    device = make_device(owner)
    device.name = "Pump room UPS"
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()
    return device


def give_license(device, plan: str, months: int, on) -> None:
    db.session.add(
        Entitlement(
            device_id=device.id,
            plan=plan,
            months=months,
            source="license",
            sku="SCSTD1Y",
            assigned_on=on,
            assigned_at=datetime.combine(on, datetime.min.time()),
        )
    )
    entitlements.refresh_segments(device, clock().today())
    db.session.commit()


def raise_event(device, code: str, severity: str, text: str, seq: int = 1) -> store.BatchResult:
    """Store an event and hand it to alerts, as the ingest worker does with a batch."""
    now = clock().now()
    result = store.store_events(
        [store.EventRow(device.serial, seq, now.timestamp(), code, severity, text)], clock().today(), now=now
    )
    alert_on_batch(store.BatchResult(), result, now=now)
    db.session.commit()
    return result


def deliveries(**filters) -> list[NotificationDelivery]:
    query = select(NotificationDelivery).order_by(NotificationDelivery.id)
    for name, value in filters.items():
        query = query.where(getattr(NotificationDelivery, name) == value)
    return list(db.session.scalars(query))


ON_BATTERY = ("0x0109", "warning", "UPS: On battery power in response to an input power problem.")


