"""Row ids of the tables that grow with every message or call are 64-bit on PostgreSQL

Revision ID: e5b9a1c3d746
Revises: 5b8d2e4f6a10
Create Date: 2026-12-07 14:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5b9a1c3d746'
down_revision = '5b8d2e4f6a10'
branch_labels = None
depends_on = None

# 10,000 devices at one message per 10 s use 2**31 telemetry ids in 25 days: SERIAL (int4) ids and their
# sequences run out. SQLite's INTEGER PRIMARY KEY is already 64-bit, so there is nothing to do there.
# On PostgreSQL each ALTER rewrites its table under a lock: on a large install plan the upgrade for a quiet
# hour (docs/operations.md).
TABLES = ("telemetry_samples", "telemetry_rollups", "device_events", "api_calls")


def _retype(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN id TYPE {kind}")
        op.execute(
            f"DO $$ DECLARE seq text := pg_get_serial_sequence('{table}', 'id'); "
            f"BEGIN IF seq IS NOT NULL THEN EXECUTE format('ALTER SEQUENCE %s AS {kind}', seq); END IF; END $$"
        )


def upgrade():
    _retype("bigint")


def downgrade():
    # fails on PostgreSQL once an id no longer fits 32 bits, rather than truncating it
    _retype("integer")
