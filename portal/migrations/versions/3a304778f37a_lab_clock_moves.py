"""Lab clock moves: each jump of the lab clock, so retention counts only time that passed

Revision ID: 3a304778f37a
Revises: 7d41c0e5a2f9
Create Date: 2026-12-02 18:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3a304778f37a'
down_revision = '7d41c0e5a2f9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lab_clock_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('moved_at', sa.DateTime(), nullable=False),
    sa.Column('seconds', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('lab_clock_moves')
