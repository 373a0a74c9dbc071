"""Connectors: the status outbox towards connectors and the connector events of accounts.

Revision ID: 0010_connectors
Revises: 0001_core
Create Date: 2026-11-22 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

import hub.models.base


revision = '0010_connectors'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('connector_status_queue',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('enqueued_at', hub.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', hub.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_connector_status_queue'))
    )
    with op.batch_alter_table('connector_status_queue', schema=None) as batch_op:
        batch_op.create_index('ix_connector_status_queue_message_seq', ['message_id', 'seq'], unique=False)
        batch_op.create_index('ix_connector_status_queue_next_attempt_at', ['next_attempt_at'], unique=False)

    op.create_table('connector_events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('connector', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('at', hub.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_connector_events_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connector_events'))
    )
    with op.batch_alter_table('connector_events', schema=None) as batch_op:
        batch_op.create_index('ix_connector_events_account_at', ['account_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('connector_events', schema=None) as batch_op:
        batch_op.drop_index('ix_connector_events_account_at')
    op.drop_table('connector_events')
    with op.batch_alter_table('connector_status_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_connector_status_queue_next_attempt_at')
        batch_op.drop_index('ix_connector_status_queue_message_seq')
    op.drop_table('connector_status_queue')
