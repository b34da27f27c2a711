"""Device ownership transfers: the offer to another company, its answer, the audit entry both sides keep

Revision ID: b2e6d8f0a413
Revises: e5b9a1c3d746
Create Date: 2026-12-07 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2e6d8f0a413'
down_revision = 'e5b9a1c3d746'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'ownership_transfers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('serial', sa.String(length=32), nullable=False),
        sa.Column('model', sa.String(length=40), nullable=False),
        sa.Column('from_company_id', sa.Integer(), nullable=False),
        sa.Column('to_company_id', sa.Integer(), nullable=False),
        sa.Column('to_email', sa.String(length=254), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column(
            'status',
            sa.Enum('PENDING', 'ACCEPTED', 'DECLINED', 'CANCELLED', 'EXPIRED', name='transferstatus',
                    native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column('offered_by_user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['decided_by_user_id'], ['users.id'], ),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
        sa.ForeignKeyConstraint(['from_company_id'], ['companies.id'], ),
        sa.ForeignKeyConstraint(['offered_by_user_id'], ['users.id'], ),
        sa.ForeignKeyConstraint(['to_company_id'], ['companies.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('ownership_transfers', schema=None) as batch_op:
        batch_op.create_index('ix_ownership_transfers_device_status', ['device_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_ownership_transfers_from_company_id'), ['from_company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ownership_transfers_to_company_id'), ['to_company_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ownership_transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ownership_transfers_to_company_id'))
        batch_op.drop_index(batch_op.f('ix_ownership_transfers_from_company_id'))
        batch_op.drop_index('ix_ownership_transfers_device_status')
    op.drop_table('ownership_transfers')
