"""Devices with history for the device page tests."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import (
    CompanyKind,
    DeviceCommand,
    DeviceEvent,
    DeviceStatus,
    TelemetryRollup,
    TelemetrySample,
)
from portal.services.clock import clock, utcnow
from portal.services.licensing import entitlements
from tests.portal.factories import login, make_device, make_user, share

LATEST_VARS = {
    "ups.status": "OL CHRG",
    "ups.load": 37,
    "battery.charge": 96,
    "battery.runtime": 1500,
    "input.voltage": 231.4,
    "output.voltage": 230.0,
    "input.frequency": 50.0,
    "ups.temperature": 29.5,
}


def put_samples(device, end, count, step_s=60, seq_start=0, **values):
    for i in range(count):
        db.session.add(
            TelemetrySample(
                device_id=device.id,
                seq=seq_start + i,
                ts=end - timedelta(seconds=step_s * (count - 1 - i)),
                ups_status="OL",
                load_percent=values.get("load", 30.0),
                charge_percent=100.0,
                runtime_s=1500.0,
                input_voltage_v=230.0,
                output_voltage_v=230.0,
                input_frequency_hz=50.0,
                temperature_c=28.0,
            )
        )
    db.session.commit()


def put_rollup(device, start, load=20.0):
    db.session.add(
        TelemetryRollup(
            device_id=device.id,
            bucket_start=start,
            bucket_seconds=900,
            samples=15,
            load_percent=load,
            charge_percent=100.0,
            runtime_s=1500.0,
            input_voltage_v=229.0,
            output_voltage_v=230.0,
            temperature_c=27.0,
        )
    )
    db.session.commit()


def put_status(device, last_telemetry_at=None, online=True, variables=None, ups_status="OL CHRG"):
    db.session.merge(
        DeviceStatus(
            device_id=device.id,
            online=online,
            last_seen_at=utcnow(),
            last_telemetry_at=last_telemetry_at,
            ups_status=ups_status,
            variables=variables if variables is not None else dict(LATEST_VARS),
            last_seq=0,
        )
    )
    db.session.commit()


def put_event(
    device,
    seq,
    ts,
    severity="warning",
    code="0x0109",
    text="UPS: On battery power in response to an input power problem.",
    caused_by=None,
):
    db.session.add(
        DeviceEvent(
            device_id=device.id,
            seq=seq,
            ts=ts,
            code=code,
            severity=severity,
            text=text,
            caused_by_command_id=caused_by,
        )
    )
    db.session.commit()


def put_command(device, user, status="progress", type_="firmware.upgrade", progress=40, args=None):
    row = DeviceCommand(
        id=str(uuid.uuid4()),
        device_id=device.id,
        type=type_,
        args=args or {},
        issued_by_user_id=user.id,
        issued_at=clock().now(),
        status=status,
        progress_percent=progress,
        message="Installing.",
        updated_at=clock().now(),
    )
    db.session.add(row)
    db.session.commit()
    return row


def give(device, owner, sku):
    from datetime import date, datetime

    from portal.models import OrderChannel

    code = entitlements.place_order(
        ordered_by=owner,
        channel=OrderChannel.ONLINE,
        sku=sku,
        quantity=1,
        installer_email="a@b.example",
        today=date(2023, 1, 1),
        now=datetime(2023, 1, 1),
    )
    entitlements.assign_from_code(owner, code.code, [device], today=clock().today(), now=clock().now())
    db.session.commit()


@pytest.fixture
def people(app):
    owner = make_user()
    partner = make_user(CompanyKind.PARTNER)
    stranger = make_user(CompanyKind.PARTNER)
    device = make_device(owner)
    entitlements.start_trial(device, today=clock().today(), now=clock().now())
    db.session.commit()
    share(device, partner)
    put_status(device, last_telemetry_at=clock().now())
    return {"owner": owner, "partner": partner, "stranger": stranger, "device": device}


@pytest.fixture
def as_owner(client, people):
    login(client, people["owner"])
    return client
