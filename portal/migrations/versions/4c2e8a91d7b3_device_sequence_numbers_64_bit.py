"""Device sequence numbers are 64-bit

Revision ID: 4c2e8a91d7b3
Revises: b6d0b96d33cc
Create Date: 2026-11-30 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4c2e8a91d7b3'
down_revision = 'b6d0b96d33cc'
branch_labels = None
depends_on = None

# Devices number their messages themselves (the lab from simulated milliseconds, ~1.8e12), and the
# contract allows any seq below 2**63: a 32-bit INTEGER on PostgreSQL rejects them all.
COLUMNS = [("telemetry_samples", "seq"), ("device_events", "seq"), ("device_status", "last_seq")]


def upgrade():
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade():
    # fails on PostgreSQL if a stored value no longer fits 32 bits, rather than truncating it
    for table, column in reversed(COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
