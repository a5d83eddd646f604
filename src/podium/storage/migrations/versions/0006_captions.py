"""captions: members' consent to live captions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 16:45:00

Off for everyone until they turn it on in their profile (docs/captions.md).
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: on SQLite a batch operation copies the table, and the copy loses the
    # users_fts triggers of migration 0002 (search then stops seeing new and renamed people).
    op.add_column('users', sa.Column('captions', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('captions')
