"""The telemetry write path's edge cases, on SQLite and PostgreSQL alike (PostgreSQL writes a batch in two
statements, telemetry_pg; SQLite keeps its executemany): duplicates inside a batch and against stored
rows, an old sample redelivered, odd characters, the widest seq, an empty batch, a batch of many devices.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from devicelink import contract
from devicelink.contract import Channel
from portal.extensions import db
from portal.models import Device, DeviceStatus, TelemetrySample
from portal.services.fleet import operating_modes, stored_facts, telemetry_pg
from portal.services.fleet import telemetry_store as store
from tests.ingest.conftest import wait_until

NOW = datetime(2026, 3, 1, 9, 30)
T0 = 1_772_357_400.0  # 2026-03-01 09:30 UTC
SERIAL = "AS2611000201"
TOP = 2**63 - 1  # the widest seq the contract accepts


@pytest.fixture(params=["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def any_db_app(request):
    """The portal on SQLite (or what UPSCONNECT_TEST_DATABASE picks), and always on PostgreSQL too."""
    return request.getfixturevalue(request.param)


def row(seq: int, ts: float = T0, serial: str = SERIAL, **variables) -> store.TelemetryRow:
    return store.TelemetryRow(serial, seq, ts, {"ups.status": "OL", "ups.load": 30.0, **variables})


def samples(serial: str = SERIAL) -> list[tuple]:
    """(seq, ups_status, load_percent) of a device's stored samples, by seq."""
    db.session.expire_all()
    device_id = db.session.scalar(select(Device.id).where(Device.serial == serial))
    return db.session.execute(
        select(TelemetrySample.seq, TelemetrySample.ups_status, TelemetrySample.load_percent)
        .where(TelemetrySample.device_id == device_id)
        .order_by(TelemetrySample.seq)
    ).all()


def status_of(serial: str = SERIAL) -> DeviceStatus:
    db.session.expire_all()
    return db.session.scalar(select(DeviceStatus).join(Device).where(Device.serial == serial))


def test_the_sample_columns_travel_in_the_order_the_postgresql_writer_names_them():
    sample_names, latest_names = telemetry_pg.SAMPLE_NAMES, telemetry_pg.LATEST_NAMES
    assert sample_names == ("device_id", "seq", "ts", "ups_status", *store.SAMPLE_COLUMNS.values())
    assert latest_names[5:] == stored_facts.STATUS_FACT_COLUMNS


def test_duplicates_inside_a_batch_and_against_stored_rows_are_stored_once_and_counted(any_db_app):
    ids = store.DeviceIds()
    first = store.store_telemetry_batch([row(1, T0 + 1), row(2, T0 + 2)], now=NOW, ids=ids)
    again = store.store_telemetry_batch(
        [
            row(2, T0 + 2),  # stored before
            row(3, T0 + 3, **{"ups.load": 33.0}),
            row(3, T0 + 3, **{"ups.load": 99.0}),  # the same seq twice in one batch: the first one counts
            row(4, T0 + 4),
            row(1, T0 + 1),  # stored before
            row(4, T0 + 4),
        ],
        now=NOW,
        ids=ids,
    )
    db.session.commit()
    assert (first.stored, first.duplicates) == (2, 0)
    assert (again.stored, again.duplicates) == (2, 4)
    assert samples() == [(1, "OL", 30.0), (2, "OL", 30.0), (3, "OL", 33.0), (4, "OL", 30.0)]
    assert status_of().last_seq == 4


def test_a_batch_of_nothing_but_stored_samples_stores_nothing_and_checks_no_thresholds(any_db_app):
    ids = store.DeviceIds()
    store.store_telemetry_batch([row(1), row(2, T0 + 1)], now=NOW, ids=ids)
    again = store.store_telemetry_batch([row(2, T0 + 1), row(1), row(2, T0 + 1)], now=NOW, ids=ids)
    assert (again.stored, again.duplicates, again.latest_variables) == (0, 3, {})


def test_an_old_sample_redelivered_touches_last_seen_but_never_moves_the_latest_row_back(any_db_app):
    ids = store.DeviceIds()
    store.store_telemetry_batch(
        [row(10, T0 + 100, **{"ups.status": "OB DISCHRG", "battery.charge": 70.0, "battery.runtime": 600})],
        now=NOW,
        ids=ids,
    )
    db.session.commit()
    later = NOW + timedelta(minutes=3)
    # An older sample, stored once already, redelivered; and an older one never seen: neither is newer.
    old = store.store_telemetry_batch(
        [row(10, T0 + 100), row(9, T0 + 90, **{"battery.charge": 5.0})], now=later, ids=ids
    )
    db.session.commit()
    assert (old.stored, old.duplicates) == (1, 1)
    status = status_of()
    assert (status.last_seq, status.last_telemetry_at, status.last_seen_at) == (
        10,
        store.from_unix(T0 + 100),
        later,
    )
    assert (status.ups_status, status.variables["battery.charge"]) == ("OB DISCHRG", 70.0)
    assert (status.status_mode, status.charge_percent, status.runtime_s) == (
        operating_modes.status_mode("OB DISCHRG"), 70.0, 600.0,
    )  # fmt: skip

    # The same timestamp with a higher seq is newer; a lower one is not.
    store.store_telemetry_batch([row(11, T0 + 100, **{"ups.status": "OL"})], now=later, ids=ids)
    store.store_telemetry_batch(
        [row(8, T0 + 100, **{"ups.status": "OB"})], now=later + timedelta(seconds=1), ids=ids
    )
    db.session.commit()
    status = status_of()
    assert (status.last_seq, status.ups_status, status.status_mode) == (
        11,
        "OL",
        operating_modes.status_mode("OL"),
    )
    assert status.last_seen_at == later + timedelta(seconds=1)
    assert stored_facts.mismatches(NOW.date()) == []


ODD = "OL\tCHRG\n\\N \"quoted\" 'single' {a,b} NULL \\\\ ⚡ 𝄞 עברית é"


def test_odd_characters_and_nul_in_strings_are_stored_and_read_back(any_db_app):
    ids = store.DeviceIds()
    result = store.store_telemetry_batch(
        [
            row(1, T0, **{"ups.status": ODD, "ups.test.result": ODD}),
            row(2, T0 + 1, **{"ups.status": "OL\x00 CHRG", "ups.test.result": "Done\x00", "ups.id": "\\x00"}),
            row(3, T0 + 2, **{"ups.status": "OB " * 40, "ups.load": "31.5", "battery.charge": True}),
        ],
        now=NOW,
        ids=ids,
    )
    db.session.commit()
    assert (result.stored, result.duplicates) == (3, 0)
    # NUL is dropped from the stored ups.status (PostgreSQL text cannot hold it); the variables keep it.
    assert samples() == [(1, ODD, 30.0), (2, "OL CHRG", 30.0), (3, ("OB " * 40)[:80], None)]
    store.store_telemetry_batch(
        [row(1, T0, **{"ups.status": ODD})], now=NOW, ids=ids
    )  # a duplicate, same text
    store.store_telemetry_batch([row(4, T0 - 1)], now=NOW, ids=ids)  # older: the latest row keeps seq 3
    db.session.commit()
    status = status_of()
    assert (status.last_seq, status.ups_status, status.load_percent, status.charge_percent) == (
        3,
        ("OB " * 40)[:80],
        None,
        None,
    )
    store.store_telemetry_batch(
        [row(5, T0 + 5, **{"ups.status": "OL\x00 CHRG", "ups.test.result": "Done\x00", "x": ODD})],
        now=NOW,
        ids=ids,
    )
    db.session.commit()
    status = status_of()
    assert status.ups_status == "OL CHRG"
    assert (status.variables["ups.status"], status.variables["ups.test.result"], status.variables["x"]) == (
        "OL\x00 CHRG", "Done\x00", ODD,
    )  # fmt: skip
    assert stored_facts.mismatches(NOW.date()) == []


def test_the_widest_seq_and_zero_in_one_batch_the_newest_by_time_wins(any_db_app):
    ids = store.DeviceIds()
    result = store.store_telemetry_batch(
        [
            row(TOP, T0, **{"ups.status": "OB"}),
            row(0, T0 + 5, **{"ups.status": "OL"}),
            row(TOP - 1, T0 + 1),
            row(TOP, T0),
        ],
        now=NOW,
        ids=ids,
    )
    db.session.commit()
    assert (result.stored, result.duplicates) == (3, 1)
    assert [seq for seq, _, _ in samples()] == [0, TOP - 1, TOP]
    assert (status_of().last_seq, status_of().ups_status) == (0, "OL")


def test_an_empty_batch_writes_nothing(any_db_app):
    assert store.store_telemetry_batch([], now=NOW) == store.BatchResult()
    assert db.session.scalar(select(func.count()).select_from(Device)) == 0
    assert db.session.scalar(select(func.count()).select_from(DeviceStatus)) == 0


def test_a_batch_of_many_devices_writes_every_sample_and_every_latest_row(any_db_app):
    serials = [f"AS27{n:08d}" for n in range(1500)]
    ids = store.DeviceIds()
    # A third of them were heard from before, and one sent its state in this very transaction: the session
    # holds its status row, which must show what the batch wrote.
    store.store_telemetry_batch([row(1, T0, serial) for serial in serials[:500]], now=NOW, ids=ids)
    db.session.commit()
    store.record_state(serials[0], True, NOW, ids=ids)
    held = db.session.get(DeviceStatus, ids.ids[serials[0]])
    later = NOW + timedelta(minutes=1)
    batch = [
        row(seq, T0 + seq, serial, **{"battery.charge": float(n % 100)})
        for n, serial in enumerate(serials)
        for seq in (2, 3)
    ]
    batch += [row(1, T0, serial) for serial in serials[:500]]  # redelivered
    result = store.store_telemetry_batch(batch, now=later, ids=ids)
    assert (held.last_seq, held.last_seen_at) == (3, later)
    db.session.commit()
    assert (result.stored, result.duplicates) == (3000, 500)
    assert len(result.latest_variables) == 1500
    assert db.session.scalar(select(func.count()).select_from(TelemetrySample)) == 3500
    rows = db.session.execute(
        select(
            Device.serial,
            DeviceStatus.last_seq,
            DeviceStatus.last_seen_at,
            DeviceStatus.online,
            DeviceStatus.charge_percent,
        )
        .join(Device)
        .order_by(Device.serial)
    ).all()
    assert rows == [(serial, 3, later, True, float(n % 100)) for n, serial in enumerate(serials)]
    assert stored_facts.mismatches(NOW.date()) == []


def test_the_worker_stores_odd_status_text_and_redeliveries_once(worker, device):
    """Through a real broker: a NUL in ups.status no longer fails the batch on PostgreSQL."""
    ups = device(0)
    ups.hello()
    first = ups.telemetry(**{"ups.status": "OL\x00 CHRG", "ups.test.result": ODD})
    ups.telemetry(first)  # redelivered
    second = ups.telemetry(**{"ups.status": ODD})
    ups.flush()
    wait_until(
        lambda: worker.counters["stored.telemetry"] + worker.counters["duplicates"] == 3,
        what="three messages written",
    )
    db.session.rollback()
    assert (
        worker.counters["stored.telemetry"],
        worker.counters["duplicates"],
        worker.counters["failed"],
    ) == (2, 1, 0)
    assert [(seq, status) for seq, status, _ in samples(ups.serial)] == [(first, "OL CHRG"), (second, ODD)]
    assert (status_of(ups.serial).last_seq, status_of(ups.serial).ups_status) == (second, ODD)


def test_the_contract_lets_these_strings_through():
    """What the worker test above sends is a valid message, so it reaches the store."""
    payload = contract.telemetry_payload(ts=T0, seq=1, variables={"ups.status": "OL\x00 CHRG", "x": ODD})
    assert contract.decode(Channel.TELEMETRY, contract.encode(payload))[1] is None


HELLO = {"model": "SMT1500C", "firmware": "UPS 15.1", "battery_type": "lead-acid", "outlet_groups": ["Main Outlets"]}


def test_a_fleet_reconnecting_sends_hellos_and_states_that_are_stored_in_a_few_queries(any_db_app):
    """A broker restart brings a hello and a state message from every device at once: each batch of them is
    read in one query and written in one flush, not a round trip per message, and comes out as one by one."""
    from sqlalchemy import event

    serials = [f"AS28{n:08d}" for n in range(300)]
    store.record_hellos([(serial, HELLO) for serial in serials[:100]], NOW)  # a third known before
    db.session.commit()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    ids = store.DeviceIds()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        devices = store.record_hellos([(serial, {**HELLO, "firmware": "UPS 16.0"}) for serial in serials], NOW)
        changes = store.record_states(
            [store.StateRow(serial, True) for serial in serials]
            + [store.StateRow(serials[0], False), store.StateRow(serials[0], True, live=False)],
            NOW, ids=ids,
        )
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # Reads: the hellos' devices, the ids, the status rows, never one per device. On PostgreSQL, where each
    # statement is a round trip, the writes are batched too (insertmanyvalues, executemany); SQLite, in
    # process, may insert the 200 new devices one statement each, which costs microseconds.
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) <= 4, reads
    if db.engine.dialect.name == "postgresql":
        assert len(statements) < 40, statements
    assert len(devices) == 300 and {d.firmware for d in devices.values()} == {"UPS 16.0"}
    # In arrival order: online, then lost, then a retained online copy (a change, but not a sign of life).
    first = ids.ids[serials[0]]
    assert [c for c in changes if c.device_id == first] == [
        store.StateChange(first, True), store.StateChange(first, False), store.StateChange(first, True)
    ]
    assert len(changes) == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(DeviceStatus).where(DeviceStatus.online.is_(True))) == 300
    assert db.session.scalar(select(func.count()).select_from(Device).where(Device.firmware == "UPS 16.0")) == 300


def test_telemetry_puts_a_lost_device_back_online_and_leaves_an_online_one_as_it_was(any_db_app):
    other = "AS2611000202"
    store.record_hellos([(SERIAL, HELLO), (other, HELLO)], NOW)
    store.record_states([store.StateRow(SERIAL, False), store.StateRow(other, True)], NOW)
    db.session.commit()
    later = NOW + timedelta(minutes=3)
    store.store_telemetry_batch([row(1), row(1, serial=other)], now=later)
    db.session.commit()
    db.session.expire_all()
    lost, steady = (
        db.session.scalar(select(DeviceStatus).join(Device).where(Device.serial == serial)) for serial in (SERIAL, other)
    )
    assert (lost.online, lost.state_changed_at, lost.last_seen_at) == (True, later, later)
    assert (steady.online, steady.state_changed_at, steady.last_seen_at) == (True, NOW, later)
