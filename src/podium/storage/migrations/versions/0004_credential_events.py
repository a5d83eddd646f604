"""credential events: revoked tokens, ended sessions, new passwords, suspensions

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00

Every node polls this table, so a credential change ends live connections on all of them,
and a `podium admin reset-password` in another process reaches the server too.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('credential_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_credential_events_created_at'), 'credential_events',
                    ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_credential_events_created_at'), table_name='credential_events')
    op.drop_table('credential_events')
