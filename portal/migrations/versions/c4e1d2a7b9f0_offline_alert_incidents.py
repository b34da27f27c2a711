"""A device's open offline incident: when its one offline alert was raised (debounced offline alerts)

Revision ID: c4e1d2a7b9f0
Revises: 3c9e2a7d51b4
Create Date: 2026-12-07 04:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e1d2a7b9f0'
down_revision = '3c9e2a7d51b4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('device_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offline_alerted_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('device_status', schema=None) as batch_op:
        batch_op.drop_column('offline_alerted_at')
