"""Webhook signing secret per company, message id per delivery

Revision ID: 7d1f3b9c2a60
Revises: 4c2e8a91d7b3
Create Date: 2026-12-02 16:00:00.000000

"""
import base64
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d1f3b9c2a60'
down_revision = '4c2e8a91d7b3'
branch_labels = None
depends_on = None


def _secret() -> str:
    # the format of portal.services.outbox.signing.new_secret, frozen here as migrations must be
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def upgrade():
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_secret', sa.String(length=80), nullable=True))
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=40), nullable=True))

    bind = op.get_bind()
    companies = sa.table('companies', sa.column('id', sa.Integer), sa.column('webhook_secret', sa.String))
    for (company_id,) in bind.execute(sa.select(companies.c.id)).all():
        bind.execute(companies.update().where(companies.c.id == company_id).values(webhook_secret=_secret()))
    # rows sent before ids existed get one made from their row id, unique and stable
    deliveries = sa.table('notification_deliveries', sa.column('id', sa.Integer), sa.column('message_id', sa.String))
    bind.execute(
        deliveries.update().values(message_id=sa.literal('msg_') + sa.cast(deliveries.c.id, sa.String))
    )

    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.alter_column('webhook_secret', existing_type=sa.String(length=80), nullable=False)
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.alter_column('message_id', existing_type=sa.String(length=40), nullable=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_message_id'), ['message_id'], unique=False)


def downgrade():
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_message_id'))
        batch_op.drop_column('message_id')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret')
