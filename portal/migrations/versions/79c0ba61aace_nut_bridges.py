"""NUT bridges, and which bridge reports a device

Revision ID: 79c0ba61aace
Revises: 3a304778f37a
Create Date: 2026-12-02 18:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '79c0ba61aace'
down_revision = '3a304778f37a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('nut_bridges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('site', sa.String(length=120), nullable=False),
    sa.Column('public_id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('enrolment_token_hash', sa.String(length=64), nullable=True),
    sa.Column('enrolment_expires_at', sa.DateTime(), nullable=True),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(), nullable=True),
    sa.Column('last_report_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], ),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('enrolment_token_hash'),
    sa.UniqueConstraint('public_id'),
    sa.UniqueConstraint('secret_hash')
    )
    with op.batch_alter_table('nut_bridges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nut_bridges_company_id'), ['company_id'], unique=False)

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bridge_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('nut_ups', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('nut_commands', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_devices_bridge_id'), ['bridge_id'], unique=False)
        batch_op.create_foreign_key('fk_devices_bridge_id_nut_bridges', 'nut_bridges', ['bridge_id'], ['id'])


def downgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_constraint('fk_devices_bridge_id_nut_bridges', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_devices_bridge_id'))
        batch_op.drop_column('nut_commands')
        batch_op.drop_column('nut_ups')
        batch_op.drop_column('bridge_id')

    with op.batch_alter_table('nut_bridges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nut_bridges_company_id'))
    op.drop_table('nut_bridges')
