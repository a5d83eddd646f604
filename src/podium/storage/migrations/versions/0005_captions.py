"""captions: members' consent to live captions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 16:45:00

Off for everyone until they turn it on in their profile (docs/captions.md).
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not batch mode: on SQLite batch mode rebuilds the table, which would
    # drop the search triggers migration 0002 put on users.
    op.add_column('users', sa.Column('captions', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('users', 'captions')  # SQLite >= 3.35 drops columns in place
