"""Storage of what devices report: no broker, just the functions the ingest worker calls."""

from __future__ import annotations

import ast
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Device, DeviceCommand, DeviceEvent, DeviceStatus, TelemetryRollup, TelemetrySample
from portal.services.fleet import telemetry_store as store
from portal.services.licensing import entitlements
from tests.portal.factories import make_device, make_user

NOW = datetime(2026, 3, 1, 9, 30)
T0 = 1_772_357_400.0  # 2026-03-01 09:30 UTC

HELLO = {
    "schema": 1,
    "model": "SMT1500IC",
    "sku": "SMT1500IC",
    "serial": "AS2611000001",
    "firmware": "UPS 15.5 (ID1029)",
    "battery_type": "lead-acid",
    "outlet_groups": ["Main Outlets", "Outlet Group 1"],
    "mac": "00:C0:B7:12:34:56",
}


def sample(serial: str, seq: int, ts: float = T0, **variables) -> store.TelemetryRow:
    return store.TelemetryRow(serial, seq, ts, {"ups.status": "OL", "ups.load": 30.0, **variables})


def event(serial: str, seq: int, ts: float = T0) -> store.EventRow:
    return store.EventRow(
        serial, seq, ts, "0x0109", "warning", "UPS: On battery power in response to an input power problem."
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_first_hello_creates_an_unclaimed_device_and_later_hellos_update_it(app):
    store.record_hello("AS2611000001", HELLO, NOW)
    db.session.commit()
    device = db.session.scalar(select(Device).where(Device.serial == "AS2611000001"))
    assert (device.model, device.firmware, device.owner_company_id) == (
        "SMT1500IC",
        "UPS 15.5 (ID1029)",
        None,
    )
    assert device.first_seen_at == NOW

    store.record_hello(
        "AS2611000001",
        {**HELLO, "firmware": "UPS 15.8 (ID1029)", "outlet_groups": ["Main Outlets"]},
        NOW + timedelta(days=1),
    )
    db.session.commit()
    assert count(Device) == 1
    assert (device.firmware, device.outlet_groups, device.first_seen_at) == (
        "UPS 15.8 (ID1029)",
        ["Main Outlets"],
        NOW,
    )


def test_a_redelivered_sample_is_stored_once(app):
    first = store.store_telemetry_batch([sample("AS2611000001", 1), sample("AS2611000001", 2)], now=NOW)
    again = store.store_telemetry_batch(
        [sample("AS2611000001", 2), sample("AS2611000001", 2), sample("AS2611000001", 3)], now=NOW
    )
    db.session.commit()
    assert (first.stored, first.duplicates) == (2, 0)
    assert (again.stored, again.duplicates) == (1, 2)
    assert count(TelemetrySample) == 3


def test_the_latest_row_holds_the_newest_sample_even_when_an_old_one_arrives_late(app):
    ids = store.DeviceIds()
    store.store_telemetry_batch(
        [sample("AS2611000001", 5, T0 + 50, **{"battery.charge": 80.0}), sample("AS2611000001", 4, T0 + 40)],
        now=NOW,
        ids=ids,
    )
    store.store_telemetry_batch(
        [sample("AS2611000001", 3, T0 + 30, **{"battery.charge": 10.0})],
        now=NOW + timedelta(minutes=1),
        ids=ids,
    )
    db.session.commit()
    status = db.session.get(DeviceStatus, ids.ids["AS2611000001"])
    assert status.last_seq == 5
    assert status.variables["battery.charge"] == 80.0
    assert status.last_telemetry_at == store.from_unix(T0 + 50)
    assert status.last_seen_at == NOW + timedelta(minutes=1)
    assert count(DeviceStatus) == 1


def test_telemetry_before_any_hello_keeps_the_data_and_the_hello_fills_in_the_device(app):
    store.store_telemetry_batch([sample("AS2611000001", 1)], now=NOW)
    store.record_hello("AS2611000001", HELLO, NOW)
    db.session.commit()
    device = db.session.scalar(select(Device))
    assert (device.serial, device.model, device.owner_company_id) == ("AS2611000001", "SMT1500IC", None)
    assert count(TelemetrySample) == 1


def test_state_topic_sets_online_and_a_retained_replay_is_not_a_sign_of_life(app):
    store.record_state("AS2611000001", True, NOW)
    store.record_state("AS2611000001", False, NOW + timedelta(minutes=5))
    store.record_state("AS2611000001", True, NOW + timedelta(minutes=9), live=False)
    db.session.commit()
    status = db.session.scalar(select(DeviceStatus))
    assert status.online is True
    assert status.state_changed_at == NOW + timedelta(minutes=9)
    assert status.last_seen_at == NOW


def test_storing_returns_what_changed_for_the_worker_to_hand_to_alerts(app):
    owner = make_user()
    device = make_device(owner, serial="AS2611000004")
    entitlements.start_trial(device, today=NOW.date(), now=NOW)
    db.session.commit()

    assert store.record_state(device.serial, True, NOW) == store.StateChange(device.id, True)
    assert store.record_state(device.serial, True, NOW) is None  # no change
    assert store.record_state(device.serial, False, NOW) == store.StateChange(device.id, False)
    saved = store.store_telemetry_batch(
        [sample(device.serial, 1, **{"ups.load": 40.0}), sample(device.serial, 2, **{"ups.load": 55.0})], now=NOW
    )
    assert saved.latest_variables == {device.id: {"ups.status": "OL", "ups.load": 55.0}}
    again = store.store_telemetry_batch([sample(device.serial, 2)], now=NOW)
    assert again.latest_variables == {}  # nothing new stored: no threshold check
    logged = store.store_events([event(device.serial, 1), event(device.serial, 2)], NOW.date(), now=NOW)
    assert logged.new_event_ids == tuple(db.session.scalars(select(DeviceEvent.id).order_by(DeviceEvent.id)))
    assert store.store_events([event(device.serial, 1)], NOW.date(), now=NOW).new_event_ids == ()


def test_the_fleet_package_never_imports_alerts():
    """Arrows point down: fleet returns what changed, and the ingest worker hands it to alerts."""
    fleet = Path(store.__file__).parent
    for path in sorted(fleet.glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        imported += [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        assert not [name for name in imported if name.startswith("portal.services.alerts")], path.name


def test_events_are_stored_once_and_not_at_all_on_basic(app):
    owner = make_user()
    standard = make_device(owner, serial="AS2611000002")
    entitlements.start_trial(standard, today=NOW.date(), now=NOW)
    make_device(owner, serial="AS2611000003")  # no licence: Basic
    db.session.commit()

    rows = [
        event("AS2611000002", 1),
        event("AS2611000002", 1),
        event("AS2611000003", 1),
        event("AS2611000003", 2),
    ]
    result = store.store_events(rows, NOW.date(), now=NOW)
    db.session.commit()
    assert (result.stored, result.duplicates, result.skipped) == (1, 1, 2)
    logged = db.session.scalars(select(DeviceEvent)).all()
    assert [(e.device_id, e.code, e.text) for e in logged] == [
        (standard.id, "0x0109", "UPS: On battery power in response to an input power problem.")
    ]


def test_purge_deletes_only_entries_older_than_the_cut_off(app):
    owner = make_user()
    device = make_device(owner, serial="AS2611000004")
    entitlements.start_trial(device, today=NOW.date(), now=NOW)
    day = 86_400
    store.store_events(
        [event("AS2611000004", 1, T0 - 31 * day), event("AS2611000004", 2, T0 - 29 * day)],
        NOW.date(),
        now=NOW,
    )
    assert store.purge_events(NOW - timedelta(days=30)) == 1
    db.session.commit()
    assert [e.seq for e in db.session.scalars(select(DeviceEvent))] == [2]


def test_downsample_folds_whole_buckets_and_running_it_again_changes_nothing(app):
    ids = store.DeviceIds()
    bucket = 900
    start = T0 - T0 % bucket - 10 * 86_400  # ten days ago, on a bucket boundary
    rows = [
        sample("AS2611000005", n, start + n * 60, **{"input.voltage": 220.0 + n, "battery.charge": 100.0})
        for n in range(30)
    ]
    rows.append(sample("AS2611000005", 99, T0))  # recent: stays at full resolution
    rows[3] = sample("AS2611000005", 3, start + 180, **{"input.voltage": 190.0, "ups.status": "OB DISCHRG"})
    store.store_telemetry_batch(rows, now=NOW, ids=ids)
    db.session.commit()

    folded = store.downsample(NOW - timedelta(days=7), bucket)
    db.session.commit()
    assert folded == 30
    rollups = db.session.scalars(select(TelemetryRollup).order_by(TelemetryRollup.bucket_start)).all()
    assert [r.samples for r in rollups] == [15, 15]
    assert rollups[0].min_input_voltage_v == 190.0
    assert rollups[0].max_input_voltage_v == 234.0
    assert rollups[0].on_battery_samples == 1
    assert rollups[1].input_voltage_v == pytest.approx(sum(220.0 + n for n in range(15, 30)) / 15)
    assert count(TelemetrySample) == 1

    assert store.downsample(NOW - timedelta(days=7), bucket) == 0
    db.session.commit()
    assert [
        r.samples for r in db.session.scalars(select(TelemetryRollup).order_by(TelemetryRollup.bucket_start))
    ] == [15, 15]


def test_a_late_old_sample_is_merged_into_its_existing_bucket(app):
    ids = store.DeviceIds()
    start = T0 - T0 % 900 - 10 * 86_400
    store.store_telemetry_batch([sample("AS2611000006", 1, start, **{"ups.load": 20.0})], now=NOW, ids=ids)
    store.downsample(NOW - timedelta(days=7), 900)
    store.store_telemetry_batch(
        [sample("AS2611000006", 2, start + 60, **{"ups.load": 40.0})], now=NOW, ids=ids
    )
    store.downsample(NOW - timedelta(days=7), 900)
    db.session.commit()
    (rollup,) = db.session.scalars(select(TelemetryRollup)).all()
    assert (rollup.samples, rollup.load_percent) == (2, 30.0)


def command_for(device: Device, status: str = "sent") -> DeviceCommand:
    command = DeviceCommand(
        id=str(uuid.uuid4()),
        device_id=device.id,
        type="firmware.upgrade",
        args={},
        issued_at=NOW,
        status=status,
        updated_at=NOW,
    )
    db.session.add(command)
    db.session.commit()
    return command


def result(command_id: str, status: str, progress=None, message="") -> dict:
    return {
        "schema": 1,
        "id": command_id,
        "status": status,
        "progress_percent": progress,
        "message": message,
        "ts": T0,
    }


def test_command_results_move_the_command_along_and_a_finished_one_stays_finished(app):
    device = make_device(serial="AS2611000007")
    command = command_for(device)
    later = NOW + timedelta(minutes=2)
    assert store.record_command_result(
        result(command.id, "progress", 40.0, "installing"), later, serial=device.serial
    )
    assert (command.status, command.progress_percent, command.message, command.updated_at) == (
        "progress",
        40,
        "installing",
        later,
    )
    assert store.record_command_result(
        result(command.id, "done", message="UPS 15.8"), later, serial=device.serial
    )
    assert store.record_command_result(result(command.id, "progress", 80.0), later, serial=device.serial)
    assert (command.status, command.progress_percent) == ("done", 100)


def test_results_for_unknown_commands_or_another_devices_command_are_refused(app):
    device = make_device(serial="AS2611000008")
    other = make_device(serial="AS2611000009")
    command = command_for(device)
    assert not store.record_command_result(result(str(uuid.uuid4()), "done"), NOW)
    assert not store.record_command_result(
        result(command.id, "failed", message="spoofed"), NOW, serial=other.serial
    )
    assert command.status == "sent"


@pytest.mark.parametrize(
    ("online", "seen_minutes_ago", "expected"),
    [
        (True, 0, ("online", "last seen less than a minute ago")),
        (True, 4, ("online", "last seen 4 minutes ago")),
        (True, 7, ("stale", "last seen 7 minutes ago")),
        (True, 1, ("online", "last seen 1 minute ago")),
        (True, 180, ("stale", "last seen 3 hours ago")),
        (False, 2, ("offline", "last seen 2 minutes ago")),
        (False, 3 * 24 * 60, ("offline", "last seen 3 days ago")),
    ],
)
def test_freshness_wording(online, seen_minutes_ago, expected):
    status = DeviceStatus(device_id=1, online=online, last_seen_at=NOW - timedelta(minutes=seen_minutes_ago))
    assert store.device_freshness(status, NOW, timedelta(minutes=5)) == expected


def test_a_device_never_seen_is_offline():
    assert store.device_freshness(None, NOW, 300) == ("offline", "never seen")


@pytest.mark.postgres
def test_dedup_and_latest_row_on_postgresql(pg_app):
    ids = store.DeviceIds()
    store.store_telemetry_batch(
        [sample("AS2611000010", 1, T0), sample("AS2611000010", 2, T0 + 10)], now=NOW, ids=ids
    )
    again = store.store_telemetry_batch(
        [sample("AS2611000010", 2, T0 + 10), sample("AS2611000010", 1, T0)], now=NOW, ids=ids
    )
    db.session.commit()
    assert (again.stored, again.duplicates) == (0, 2)
    assert count(TelemetrySample) == 2
    assert db.session.get(DeviceStatus, ids.ids["AS2611000010"]).last_seq == 2
