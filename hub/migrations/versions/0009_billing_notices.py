"""billing: low-balance email notices (outbox) and invoiced subscription fees

Revision ID: 0009_billing_notices
Revises: 0001_core
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

import hub.models.base


revision = '0009_billing_notices'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_notices',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('next_attempt_at', hub.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', hub.models.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hub.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_billing_notices_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_notices'))
    )
    with op.batch_alter_table('billing_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_notices_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_billing_notices_due', ['sent_at', 'next_attempt_at'], unique=False)

    op.create_table('subscription_fees',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('plan', sa.String(length=16), nullable=False),
    sa.Column('cycle', sa.String(length=8), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('period_start', hub.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('period_end', hub.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('reference', sa.String(length=96), nullable=False),
    sa.Column('created_at', hub.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_subscription_fees_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_fees')),
    sa.UniqueConstraint('account_id', 'reference', name='uq_subscription_fees_ref')
    )
    with op.batch_alter_table('subscription_fees', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_fees_account_created', ['account_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subscription_fees', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_fees_account_created')
    op.drop_table('subscription_fees')
    with op.batch_alter_table('billing_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_notices_due')
        batch_op.drop_index(batch_op.f('ix_billing_notices_account_id'))
    op.drop_table('billing_notices')
