"""The migrations build the same schema the models declare, on SQLite and on PostgreSQL."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from portal.extensions import db
from portal.services.fleet.telemetry_store import TelemetryRow, store_telemetry_batch
from tests.conftest import make_app
from tests.portal.factories import make_device, make_user


def _upgrade_and_compare(app):
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"render_as_batch": True, "compare_type": True})
            differences = compare_metadata(context, db.metadata)
        db.session.remove()
        db.engine.dispose()
    return differences


def test_migrations_match_models_on_sqlite(tmp_path):
    assert _upgrade_and_compare(make_app(f"sqlite:///{tmp_path / 'migrated.db'}", tmp_path)) == []


@pytest.mark.postgres
def test_migrations_match_models_on_postgres(postgres_url, tmp_path):
    app = make_app(postgres_url, tmp_path)
    try:
        assert _upgrade_and_compare(app) == []
        _telemetry_ids_go_past_32_bits(app)
    finally:
        with app.app_context():
            db.drop_all()
            with db.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            db.engine.dispose()


def _telemetry_ids_go_past_32_bits(app):
    """A busy install passes id 2**31 within weeks: the migrated ids and their sequences are 64-bit."""
    with app.app_context():
        device = make_device(make_user())
        db.session.commit()
        db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence('telemetry_samples', 'id'), 3000000000)"))
        now = datetime.now(UTC)
        store_telemetry_batch(
            [TelemetryRow(device.serial, 1, now.timestamp(), {"ups.status": "OL"})], now=now
        )
        db.session.commit()
        assert db.session.execute(sa.text("SELECT max(id) FROM telemetry_samples")).scalar_one() > 2**31
        db.session.remove()


def test_the_stored_facts_migration_fills_them_as_computed(tmp_path):
    """Rows written before the stored dashboard facts existed get them from the backfill, equal to the computed ones."""
    from datetime import date, datetime, timedelta

    from sqlalchemy import text

    from portal.services.clock import clock
    from portal.services.fleet import stored_facts
    from portal.services.licensing.plans import Plan
    from portal.services.licensing.subscription_timeline import Entitlement as Entry
    from portal.services.licensing.subscription_timeline import build_timeline

    app = make_app(f"sqlite:///{tmp_path / 'backfilled.db'}", tmp_path)
    with app.app_context():
        upgrade(revision="a1d5c7e9f302")  # the revision before the stored facts
        today = clock().today()
        now = datetime(2026, 1, 1)
        entitlements = {  # device id: (entitlement id, plan, months, source, assigned on)
            1: (1, "standard", 6, "trial", today - timedelta(days=10)),  # on trial
            2: (2, "advanced", 12, "license", today - timedelta(days=400)),  # ended
            3: (3, "standard", 12, "license", today + timedelta(days=0)),  # starts today
        }
        statuses = {1: "OB DISCHRG LB", 2: "OL CHRG", 3: "OL RB"}
        with db.engine.begin() as connection:
            for device_id in (1, 2, 3, 4):
                connection.execute(text(
                    "INSERT INTO devices (id, serial, model, firmware, battery_type, outlet_groups, name, site, location, first_seen_at)"
                    " VALUES (:id, :serial, 'SMT1500C', '', 'lead-acid', '[]', '', '', '', :now)"
                ), {"id": device_id, "serial": f"AS26MIG{device_id:05d}", "now": now})
            for device_id, ups_status in statuses.items():
                connection.execute(text(
                    "INSERT INTO device_status (device_id, online, last_seq, ups_status, variables)"
                    " VALUES (:id, 1, 1, :status, :variables)"
                ), {"id": device_id, "status": ups_status, "variables": f'{{"ups.status": "{ups_status}", "ups.load": 12}}'})
            for device_id, (entitlement_id, plan, months, source, on) in entitlements.items():
                connection.execute(text(
                    "INSERT INTO entitlements (id, device_id, plan, months, bonus_months, source, sku, assigned_on, assigned_at)"
                    " VALUES (:id, :device, :plan, :months, 0, :source, '', :on, :now)"
                ), {"id": entitlement_id, "device": device_id, "plan": plan, "months": months, "source": source,
                    "on": on.isoformat(), "now": now})
                timeline = build_timeline([Entry(id=entitlement_id, plan=Plan.from_key(plan), months=months, assigned_on=on, source=source)])
                for segment in timeline.segments:
                    connection.execute(text(
                        'INSERT INTO subscription_segments (device_id, plan, start, "end", entitlement_id) VALUES (:d, :p, :s, :e, :i)'
                    ), {"d": device_id, "p": segment.plan.key, "s": segment.start.isoformat(), "e": segment.end.isoformat(),
                        "i": entitlement_id})
        upgrade()
        assert stored_facts.mismatches(today) == []
        plans = dict(db.session.execute(text("SELECT id, plan_today FROM devices")).all())
        modes = dict(db.session.execute(text("SELECT device_id, status_mode FROM device_status")).all())
        assert plans == {1: "standard", 2: "basic", 3: "standard", 4: "basic"}
        assert modes == {1: "low_battery", 2: "online", 3: "replace_battery"}
        assert isinstance(today, date)
        db.session.remove()
        db.engine.dispose()
