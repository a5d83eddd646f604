"""replays and clips: recorded rooms, their timeline and chapters, and clips cut from them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 16:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('replays',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('room_id', sa.String(length=16), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.BigInteger(), nullable=False),
    sa.Column('trim_start_ms', sa.BigInteger(), nullable=False),
    sa.Column('access', sa.String(length=16), nullable=False),
    sa.Column('file', sa.String(length=64), nullable=False),
    sa.Column('transcript_path', sa.String(length=500), nullable=True),
    sa.Column('timeline', sa.JSON(), nullable=False),
    sa.Column('chapters', sa.JSON(), nullable=False),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['host_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('room_id')
    )
    op.create_index(op.f('ix_replays_host_id'), 'replays', ['host_id'], unique=False)
    op.create_index(op.f('ix_replays_started_at'), 'replays', ['started_at'], unique=False)
    op.create_table('clips',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('replay_id', sa.String(length=16), nullable=False),
    sa.Column('room_id', sa.String(length=16), nullable=False),
    sa.Column('creator_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('start_ms', sa.BigInteger(), nullable=False),
    sa.Column('end_ms', sa.BigInteger(), nullable=False),
    sa.Column('speaker_ids', sa.JSON(), nullable=False),
    sa.Column('file', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['replay_id'], ['replays.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_clips_replay_id'), 'clips', ['replay_id'], unique=False)
    op.create_index(op.f('ix_clips_creator_id'), 'clips', ['creator_id'], unique=False)
    op.create_index(op.f('ix_clips_created_at'), 'clips', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('clips')
    op.drop_table('replays')
