"""Battery discharges measured from telemetry, with the health each one showed; the replacement logbook

Revision ID: c4e81b27d9a0
Revises: 61fe964103af
Create Date: 2026-12-07 04:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e81b27d9a0'
down_revision = '61fe964103af'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'battery_discharges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=False),
        sa.Column('ended_by', sa.String(length=16), nullable=False),
        sa.Column('duration_s', sa.Double(), nullable=False),
        sa.Column('samples', sa.Integer(), nullable=False),
        sa.Column('start_charge_percent', sa.Double(), nullable=False),
        sa.Column('end_charge_percent', sa.Double(), nullable=False),
        sa.Column('load_percent', sa.Double(), nullable=False),
        sa.Column('energy_wh', sa.Double(), nullable=False),
        sa.Column('temperature_c', sa.Double(), nullable=True),
        sa.Column('predicted_runtime_s', sa.Double(), nullable=True),
        sa.Column('measured_runtime_s', sa.Double(), nullable=True),
        sa.Column('health', sa.Double(), nullable=True),
        sa.Column('estimate_health', sa.Double(), nullable=True),
        sa.Column('estimate_replace_by', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('device_id', 'started_at', name='uq_discharge_device_start'),
    )
    with op.batch_alter_table('battery_discharges', schema=None) as batch_op:
        batch_op.create_index('ix_discharge_device_ended', ['device_id', 'ended_at'], unique=False)
    op.create_table(
        'battery_replacements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('replaced_on', sa.Date(), nullable=False),
        sa.Column('sku', sa.String(length=20), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('recorded_by_user_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
        sa.ForeignKeyConstraint(['recorded_by_user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('battery_replacements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_battery_replacements_device_id'), ['device_id'], unique=False)


def downgrade():
    with op.batch_alter_table('battery_replacements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_battery_replacements_device_id'))
    op.drop_table('battery_replacements')
    with op.batch_alter_table('battery_discharges', schema=None) as batch_op:
        batch_op.drop_index('ix_discharge_device_ended')
    op.drop_table('battery_discharges')
