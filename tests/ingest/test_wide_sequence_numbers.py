"""Sequence numbers are the device's own, up to 2**63 - 1: they must survive the store on every database.

The lab numbers messages from simulated milliseconds (~1.8e12), past a 32-bit INTEGER, so a narrow
column on PostgreSQL rejected every message of the simulated fleet.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import DeviceEvent, DeviceStatus, TelemetrySample
from portal.services.fleet import telemetry_store as store
from portal.services.licensing import entitlements
from tests.portal.factories import make_device, make_user

NOW = datetime(2026, 3, 1, 9, 30)
T0 = 1_772_357_400.0  # 2026-03-01 09:30 UTC
WIDE = 2**62
SERIAL = "AS2611000099"


@pytest.fixture(params=["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def any_db_app(request):
    """The portal on SQLite (or what UPSCONNECT_TEST_DATABASE picks), and always on PostgreSQL too."""
    return request.getfixturevalue(request.param)


def test_telemetry_and_events_with_64_bit_seq_are_stored_and_read_back(any_db_app):
    device = make_device(make_user(), serial=SERIAL)
    entitlements.start_trial(device, today=NOW.date(), now=NOW)  # Standard: the event log records
    db.session.commit()

    telemetry = store.store_telemetry_batch(
        [store.TelemetryRow(SERIAL, WIDE, T0, {"ups.status": "OL", "ups.load": 30.0})], now=NOW
    )
    events = store.store_events(
        [store.EventRow(SERIAL, WIDE + 1, T0 + 1, "0x0109", "warning", "UPS: On battery power.")],
        NOW.date(),
        now=NOW,
    )
    db.session.commit()
    assert (telemetry.stored, events.stored) == (1, 1)

    db.session.expire_all()
    assert db.session.scalars(select(TelemetrySample.seq)).all() == [WIDE]
    assert db.session.scalars(select(DeviceEvent.seq)).all() == [WIDE + 1]
    assert db.session.get(DeviceStatus, device.id).last_seq == WIDE


def test_the_largest_seq_the_contract_allows_still_dedups_and_moves_the_latest_row(any_db_app):
    top = 2**63 - 1  # devicelink.contract accepts 0 <= seq < 2**63
    ids = store.DeviceIds()
    store.store_telemetry_batch(
        [store.TelemetryRow(SERIAL, top - 1, T0, {"ups.status": "OL"})], now=NOW, ids=ids
    )
    again = store.store_telemetry_batch(
        [
            store.TelemetryRow(SERIAL, top - 1, T0, {"ups.status": "OL"}),
            store.TelemetryRow(SERIAL, top, T0 + 10, {"ups.status": "OB"}),
        ],
        now=NOW,
        ids=ids,
    )
    db.session.commit()
    assert (again.stored, again.duplicates) == (1, 1)
    status = db.session.get(DeviceStatus, ids.ids[SERIAL])
    assert (status.last_seq, status.ups_status) == (top, "OB")
