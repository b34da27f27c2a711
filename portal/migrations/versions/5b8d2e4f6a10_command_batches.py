"""Bulk actions: command batches and the command each device of a batch was sent

Revision ID: 5b8d2e4f6a10
Revises: 3c5e7a9d1f20
Create Date: 2026-12-07 05:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b8d2e4f6a10'
down_revision = '3c5e7a9d1f20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'command_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('company_id', sa.Integer(), nullable=False),
        sa.Column('created_by_user_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], ),
        sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('command_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_command_batches_company_id'), ['company_id'], unique=False)

    op.create_table(
        'command_batch_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('command_id', sa.String(length=36), nullable=True),
        sa.Column('refusal', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['command_batches.id'], ),
        sa.ForeignKeyConstraint(['command_id'], ['device_commands.id'], ),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('command_batch_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_command_batch_items_batch_id'), ['batch_id'], unique=False)


def downgrade():
    with op.batch_alter_table('command_batch_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_command_batch_items_batch_id'))
    op.drop_table('command_batch_items')
    with op.batch_alter_table('command_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_command_batches_company_id'))
    op.drop_table('command_batches')
