"""Scheduled fleet actions: recurring self-tests and firmware rollouts in waves

Revision ID: a1d5c7e9f302
Revises: b2e6d8f0a413
Create Date: 2026-12-07 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1d5c7e9f302'
down_revision = 'b2e6d8f0a413'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'fleet_schedules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('company_id', sa.Integer(), nullable=False),
        sa.Column('created_by_user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('site', sa.String(length=120), nullable=False),
        sa.Column('device_ids', sa.JSON(), nullable=False),
        sa.Column('cadence', sa.String(length=10), nullable=False),
        sa.Column('weekday', sa.Integer(), nullable=True),
        sa.Column('day_of_month', sa.Integer(), nullable=True),
        sa.Column('hour', sa.Integer(), nullable=True),
        sa.Column('wave_percent', sa.Integer(), nullable=True),
        sa.Column('soak_hours', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('status_reason', sa.String(length=500), nullable=False),
        sa.Column('wave', sa.Integer(), nullable=False),
        sa.Column('check_failures', sa.Boolean(), nullable=False),
        sa.Column('next_run_at', sa.DateTime(), nullable=True),
        sa.Column('last_run_at', sa.DateTime(), nullable=True),
        sa.Column('last_batch_id', sa.Integer(), nullable=True),
        sa.Column('first_wave_batch_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], ),
        sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], ),
        sa.ForeignKeyConstraint(['first_wave_batch_id'], ['command_batches.id'], ),
        sa.ForeignKeyConstraint(['last_batch_id'], ['command_batches.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('fleet_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_schedules_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fleet_schedules_next_run_at'), ['next_run_at'], unique=False)


def downgrade():
    with op.batch_alter_table('fleet_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_schedules_next_run_at'))
        batch_op.drop_index(batch_op.f('ix_fleet_schedules_company_id'))
    op.drop_table('fleet_schedules')
