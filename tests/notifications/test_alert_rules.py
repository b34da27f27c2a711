"""Which events alert: Basic sends nothing, maintenance windows mute, user-started tests are marked."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.ingest import alert_on_batch
from portal.models import DeviceCommand, DeviceEvent, MaintenanceWindow
from portal.services.alerts import device_alerts, offline, policies, thresholds
from portal.services.calendar_dates import add_months
from portal.services.clock import clock
from portal.services.fleet import telemetry_store as store
from tests.notifications.conftest import ON_BATTERY, deliveries, raise_event
from tests.portal.factories import make_device


def test_basic_devices_send_no_alerts(app, owner):
    basic = make_device(owner)  # no trial, no license: Basic
    raise_event(basic, *ON_BATTERY)
    assert deliveries() == []


def test_a_device_whose_trial_ended_sends_no_alerts(app, owner, device):
    clock().advance(timedelta(days=(add_months(clock().today(), 6) - clock().today()).days + 1))
    db.session.commit()
    raise_event(device, "0x0103", "critical", "UPS: The load exceeds 100% of rated capacity.")
    assert deliveries() == []


def test_a_maintenance_window_mutes_alerts_while_it_runs(app, owner, device):
    now = clock().now()
    db.session.add(
        MaintenanceWindow(
            device_id=device.id,
            company_id=owner.company_id,
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(hours=1),
            note="Battery swap",
            created_at=now,
        )
    )
    db.session.commit()
    raise_event(device, *ON_BATTERY, seq=1)
    assert deliveries() == []
    assert db.session.query(DeviceEvent).count() == 1  # still logged
    clock().advance(timedelta(hours=2))
    db.session.commit()
    raise_event(device, *ON_BATTERY, seq=2)
    assert len(deliveries()) == 1


def test_events_of_a_user_started_self_test_are_marked(mail_app, owner, device):
    command = DeviceCommand(
        id=str(uuid.uuid4()),
        device_id=device.id,
        type="test.battery.start",
        args={},
        issued_by_user_id=owner.id,
        issued_at=clock().now() - timedelta(seconds=20),
        status="done",
        progress_percent=100,
        message="",
        updated_at=clock().now(),
    )
    db.session.add(command)
    db.session.commit()
    raise_event(device, "", "warning", "UPS: Self-Test failed.")
    [row] = deliveries()
    assert row.event_type == "self_test_failed"
    assert f"Started by {owner.name} (self-test)" in row.payload["text"]
    event = db.session.query(DeviceEvent).one()
    assert event.caused_by_command_id == command.id


def test_an_event_already_tied_to_a_calibration_names_who_started_it(app, owner, device):
    command = DeviceCommand(
        id=str(uuid.uuid4()),
        device_id=device.id,
        type="calibrate.start",
        args={},
        issued_by_user_id=owner.id,
        issued_at=clock().now() - timedelta(hours=2),
        status="done",
        progress_percent=100,
        message="",
        updated_at=clock().now(),
    )
    db.session.add(command)
    db.session.add(
        DeviceEvent(
            device_id=device.id,
            seq=9,
            ts=clock().now(),
            code="0x0109",
            severity="warning",
            text="UPS: On battery power in response to a calibration.",
            caused_by_command_id=command.id,
        )
    )
    db.session.flush()
    event_id = db.session.query(DeviceEvent.id).scalar()
    device_alerts.alert_for_events([event_id], now=clock().now(), today=clock().today())
    [row] = deliveries()
    assert f"Started by {owner.name} (calibration)" in row.payload["text"]


GRACE = timedelta(seconds=300)


def _offline_pass(at):
    done = offline.evaluate_offline(at, at - GRACE)
    db.session.commit()
    return done


def test_a_lost_connection_alerts_only_after_the_grace_period_and_once(app, owner, device):
    t0 = clock().now()
    for online, live in ((True, True), (False, True), (False, False)):  # the last: a retained replay
        store.record_state(device.serial, online, t0, live=live)
    db.session.commit()
    assert _offline_pass(t0 + timedelta(seconds=299)).offline == 0
    assert deliveries() == []
    assert _offline_pass(t0 + timedelta(seconds=301)).offline == 1
    for minutes in (6, 30, 600):  # the same incident: nothing more
        assert _offline_pass(t0 + timedelta(minutes=minutes)).offline == 0
    [row] = deliveries()
    assert (row.event_type, row.subject) == ("device_offline", "[Critical] Device offline · Pump room UPS")
    back = t0 + timedelta(minutes=601)
    store.record_state(device.serial, True, back)
    db.session.commit()
    assert _offline_pass(back + timedelta(seconds=1)).back_online == 1
    assert _offline_pass(back + timedelta(seconds=2)).back_online == 0
    assert [r.event_type for r in deliveries()] == ["device_offline", "device_online"]
    assert "Device back online · Pump room UPS" in deliveries()[1].subject


def test_a_short_outage_sends_nothing(app, owner, device):
    t0 = clock().now()
    store.record_state(device.serial, True, t0)
    store.record_state(device.serial, False, t0 + timedelta(seconds=5))
    store.record_state(device.serial, True, t0 + timedelta(seconds=20))  # back 15 s later
    db.session.commit()
    for seconds in (10, 60, 299, 310):
        assert _offline_pass(t0 + timedelta(seconds=seconds)).offline == 0
    assert deliveries() == []
    # a device silent past the grace period is offline too: heard last at t0 + 20 s
    assert _offline_pass(t0 + timedelta(seconds=321)).offline == 1


def test_silence_before_the_worker_listened_does_not_count(app, owner, device):
    t0 = clock().now()
    store.record_state(device.serial, True, t0)
    db.session.commit()
    later = t0 + timedelta(hours=2)  # ingest was down for two hours
    assert offline.evaluate_offline(later, later - GRACE, heard_since=later - timedelta(seconds=10)).offline == 0
    assert deliveries() == []


def test_a_user_started_firmware_upgrade_holds_the_device_in_maintenance(app, owner, device):
    t0 = clock().now()
    store.record_state(device.serial, False, t0)
    db.session.add(
        DeviceCommand(
            id=str(uuid.uuid4()), device_id=device.id, type="firmware.upgrade", args={},
            issued_by_user_id=owner.id, issued_at=t0, status="progress", updated_at=t0,
        )
    )  # fmt: skip
    db.session.commit()
    held = _offline_pass(t0 + timedelta(minutes=10))
    assert (held.offline, held.held) == (0, 1) and deliveries() == []
    db.session.get(DeviceCommand, db.session.scalar(select(DeviceCommand.id))).status = "failed"
    db.session.commit()
    assert _offline_pass(t0 + timedelta(minutes=31)).offline == 1  # never came back: now it alerts


# ---------------------------------------------------------------- thresholds with hysteresis

LIMITS = thresholds.Limits(
    load_above_percent=80,
    runtime_below_min=10,
    voltage_low_v=200,
    voltage_high_v=250,
    load_hysteresis_percent=5,
    runtime_hysteresis_min=2,
    voltage_hysteresis_v=5,
)


@pytest.mark.parametrize(
    ("metric", "values", "expected"),
    [
        # hovering at the limit raises once and clears only past the margin
        (
            "load",
            [79, 81, 79, 81, 78, 81, 74, 79, 81],
            [False, True, True, True, True, True, False, False, True],
        ),
        ("load", [80, 80.5, 76, 75.1, 75], [False, True, True, True, False]),  # clears at limit - margin
        ("runtime", [12, 9.5, 10.5, 9.9, 11.9, 12.1], [False, True, True, True, True, False]),
        (
            "voltage",
            [230, 199, 201, 204, 205, 251, 246, 244],
            [False, True, True, True, False, True, True, False],
        ),
    ],
)
def test_hysteresis_is_table_driven(metric, values, expected):
    active, seen = False, []
    for value in values:
        active = thresholds.next_state(metric, active, value, LIMITS)
        seen.append(active)
    assert seen == expected


def test_a_load_hovering_at_the_limit_alerts_once_per_crossing(app, owner, device):
    thresholds.save(owner, LIMITS, now=clock().now())
    policies.create_policy(
        owner,
        policies.PolicyInput(
            name="Thresholds",
            description="",
            event_types=["threshold_load"],
            severities=["warning", "informational"],
            email_recipients="ops@customer.example",
        ),
        now=clock().now(),
    )
    db.session.commit()
    loads = [79, 81, 79.5, 82, 80.5, 81, 70, 81]
    for seq, load in enumerate(loads):
        now = clock().now()
        saved = store.store_telemetry_batch(
            [store.TelemetryRow(device.serial, seq, now.timestamp() + seq, {"ups.load": load})], now=now
        )
        alert_on_batch(saved, store.BatchResult(), now=now)
        db.session.commit()
    rows = deliveries(target="ops@customer.example")
    assert [(r.payload["text"].splitlines()[0], r.subject) for r in rows] == [
        ("Load above limit · Pump room UPS", "[Warning] Load above limit · Pump room UPS"),
        ("Load back within limit · Pump room UPS", "[Informational] Load back within limit · Pump room UPS"),
        ("Load above limit · Pump room UPS", "[Warning] Load above limit · Pump room UPS"),
    ]
    assert "Load is 81 %, above the 80 % limit." in rows[0].payload["text"]
    assert "back to 70 %" in rows[1].payload["text"]


def test_an_outage_long_after_a_self_test_is_not_marked(app, owner, device):
    db.session.add(
        DeviceCommand(
            id=str(uuid.uuid4()),
            device_id=device.id,
            type="test.battery.start",
            args={},
            issued_by_user_id=owner.id,
            issued_at=clock().now() - timedelta(minutes=10),
            status="done",
            progress_percent=100,
            message="",
            updated_at=clock().now(),
        )
    )
    db.session.commit()
    raise_event(device, *ON_BATTERY)
    [row] = deliveries()
    assert "Started by" not in row.payload["text"]
    assert db.session.query(DeviceEvent).one().caused_by_command_id is None
