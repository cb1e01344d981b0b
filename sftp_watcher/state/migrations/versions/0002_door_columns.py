"""Door columns of uploads: channel, sender, judged name, attempts (the door contract).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        for column in ("attempts", "judged_name", "sender", "channel"):
            batch.drop_column(column)
