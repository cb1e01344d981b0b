"""Doors and attempts: an upload's channel, sender and judged name; its attempt count;
the file name's start time (part of the duplicate key).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sftp_watcher.state.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=False, server_default="sftp"))
        batch.add_column(sa.Column("sender", sa.String(320), nullable=True))
        batch.add_column(sa.Column("judged_name", sa.String(512), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("start_time", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        for column in ("start_time", "attempts", "judged_name", "sender", "channel"):
            batch.drop_column(column)
