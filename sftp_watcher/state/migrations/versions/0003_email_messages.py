"""The email channel's message ledger: one row per message of the mailbox (SPEC 11).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sftp_watcher.state.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("folder", sa.String(256), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("message_id", sa.Text, nullable=True),
        sa.Column("sender", sa.String(320), nullable=True),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("flow_id", sa.String(64), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("destination", sa.String(16), nullable=True),
        sa.Column("answer", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("account", "folder", "uidvalidity", "uid", name="uq_email_messages"),
    )
    op.create_index(
        "ix_email_messages_fingerprint", "email_messages", ["account", "folder", "fingerprint"]
    )


def downgrade() -> None:
    op.drop_index("ix_email_messages_fingerprint", "email_messages")
    op.drop_table("email_messages")
