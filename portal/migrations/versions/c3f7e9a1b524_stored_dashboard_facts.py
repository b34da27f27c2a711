"""Stored dashboard facts: the status row's reported mode and readings, the device's standing; their indexes

Revision ID: c3f7e9a1b524
Revises: a1d5c7e9f302
Create Date: 2026-12-07 14:50:00.000000

"""
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c3f7e9a1b524'
down_revision = 'a1d5c7e9f302'
branch_labels = None
depends_on = None

SEARCHED = ("serial", "name", "model", "site")


def _today(bind) -> date:
    """Business today: the real date plus the lab clock's offset, if one was ever set."""
    offset = bind.execute(sa.text("SELECT offset_seconds FROM lab_clock WHERE id = 1")).scalar() or 0
    return (datetime.now(UTC) + timedelta(seconds=offset)).date()


def upgrade():
    # Plain ADD COLUMN and CREATE INDEX: SQLite does them in place, so no table is rebuilt (a rebuild of
    # devices would trip the foreign keys of every table that points at it).
    op.add_column('device_status', sa.Column('status_mode', sa.String(length=20), server_default='online', nullable=False))
    op.add_column('device_status', sa.Column('load_percent', sa.Double(), nullable=True))
    op.add_column('device_status', sa.Column('charge_percent', sa.Double(), nullable=True))
    op.add_column('device_status', sa.Column('runtime_s', sa.Double(), nullable=True))
    op.create_index('ix_device_status_mode', 'device_status', ['status_mode', 'online', 'last_seen_at'], unique=False)
    op.create_index('ix_device_status_live', 'device_status', ['device_id', 'online', 'last_seen_at', 'status_mode'], unique=False)
    op.create_index('ix_device_status_load', 'device_status', ['load_percent'], unique=False)
    op.create_index('ix_device_status_charge', 'device_status', ['charge_percent'], unique=False)
    op.create_index('ix_device_status_runtime', 'device_status', ['runtime_s'], unique=False)

    op.add_column('devices', sa.Column('plan_today', sa.String(length=16), server_default='basic', nullable=False))
    op.add_column('devices', sa.Column('term_end', sa.Date(), nullable=True))
    op.add_column('devices', sa.Column('on_trial', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('devices', sa.Column('standing_on', sa.Date(), nullable=True))
    op.add_column('devices', sa.Column('standing_until', sa.Date(), nullable=True))
    op.create_index('ix_devices_standing_until', 'devices', ['standing_until'], unique=False)
    op.create_index('ix_devices_owner_model', 'devices', ['owner_company_id', 'model', 'serial'], unique=False)
    op.create_index('ix_devices_owner_firmware', 'devices', ['owner_company_id', 'model', 'firmware'], unique=False)
    op.create_index('ix_devices_owner_site', 'devices', ['owner_company_id', 'site', 'serial'], unique=False)
    op.create_index('ix_devices_owner_plan', 'devices', ['owner_company_id', 'plan_today', 'serial'], unique=False)
    op.create_index('ix_devices_owner_term_end', 'devices', ['owner_company_id', 'term_end', 'serial'], unique=False)

    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.execute(
        "CREATE INDEX ix_devices_owner_display_name ON devices "
        "(owner_company_id, coalesce(nullif(name, ''), serial), serial)"
    )
    for column in SEARCHED:
        folded = f"lower({column}) text_pattern_ops" if postgres else f"lower({column})"
        op.execute(f"CREATE INDEX ix_devices_{column}_search ON devices ({folded})")

    _backfill(bind)


def _backfill(bind):
    # The status facts come from the one function ingest writes them with.
    from portal.services.fleet.stored_facts import status_facts

    status = sa.table(
        'device_status', sa.column('device_id'), sa.column('ups_status'), sa.column('variables', sa.JSON),
        sa.column('status_mode'), sa.column('load_percent'), sa.column('charge_percent'), sa.column('runtime_s'),
    )
    rows = bind.execute(sa.select(status.c.device_id, status.c.ups_status, status.c.variables)).all()
    for device_id, ups_status, variables in rows:
        bind.execute(status.update().where(status.c.device_id == device_id).values(**status_facts(ups_status, variables)))

    # The standing from the stored segments, as licensing.standing_sql reads them; `flask renewals` rolls it over.
    bind.execute(sa.text("""
        UPDATE devices SET
          plan_today = coalesce((SELECT s.plan FROM subscription_segments s
                                 WHERE s.device_id = devices.id AND s.start <= :today AND s."end" > :today LIMIT 1), 'basic'),
          term_end = (SELECT max(s."end") FROM subscription_segments s WHERE s.device_id = devices.id),
          on_trial = EXISTS (SELECT 1 FROM subscription_segments s JOIN entitlements e ON e.id = s.entitlement_id
                             WHERE s.device_id = devices.id AND s.start <= :today AND s."end" > :today
                               AND e.source = 'trial'),
          standing_until = (SELECT min(b.day) FROM (
                              SELECT s.start AS day, s.device_id FROM subscription_segments s WHERE s.start > :today
                              UNION ALL
                              SELECT s."end" AS day, s.device_id FROM subscription_segments s WHERE s."end" > :today
                            ) b WHERE b.device_id = devices.id),
          standing_on = :today
    """).bindparams(sa.bindparam("today", value=_today(bind), type_=sa.Date)))


def downgrade():
    for column in SEARCHED:
        op.drop_index(f"ix_devices_{column}_search", table_name="devices")
    op.drop_index("ix_devices_owner_display_name", table_name="devices")
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('ix_devices_owner_term_end')
        batch_op.drop_index('ix_devices_owner_plan')
        batch_op.drop_index('ix_devices_owner_site')
        batch_op.drop_index('ix_devices_owner_firmware')
        batch_op.drop_index('ix_devices_owner_model')
        batch_op.drop_index('ix_devices_standing_until')
        batch_op.drop_column('standing_until')
        batch_op.drop_column('standing_on')
        batch_op.drop_column('on_trial')
        batch_op.drop_column('term_end')
        batch_op.drop_column('plan_today')

    with op.batch_alter_table('device_status', schema=None) as batch_op:
        batch_op.drop_index('ix_device_status_runtime')
        batch_op.drop_index('ix_device_status_charge')
        batch_op.drop_index('ix_device_status_load')
        batch_op.drop_index('ix_device_status_live')
        batch_op.drop_index('ix_device_status_mode')
        batch_op.drop_column('runtime_s')
        batch_op.drop_column('charge_percent')
        batch_op.drop_column('load_percent')
        batch_op.drop_column('status_mode')
