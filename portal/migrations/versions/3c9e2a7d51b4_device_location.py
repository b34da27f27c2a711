"""Devices carry a location (a room or rack) beside their name and site

Revision ID: 3c9e2a7d51b4
Revises: c4e81b27d9a0
Create Date: 2026-12-07 04:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c9e2a7d51b4'
down_revision = 'c4e81b27d9a0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('location', sa.String(length=120), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('location')
