"""The outbox remembers when a worker claimed a delivery, so a re-delivery after a crash is logged as one

Revision ID: 61fe964103af
Revises: 79c0ba61aace
Create Date: 2026-12-02 18:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '61fe964103af'
down_revision = '79c0ba61aace'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
