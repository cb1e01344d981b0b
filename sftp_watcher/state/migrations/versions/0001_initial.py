"""Initial schema: uploads, their steps and batches, the email outbox, server profiles.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sftp_watcher.state.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("original_name", sa.String(512), nullable=False),
        sa.Column("claim_name", sa.String(700), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("uploaded_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("judged_at", UTCDateTime, nullable=True),
        sa.Column("content_sha256", sa.String(64), nullable=True),
        sa.Column("flow_id", sa.String(64), nullable=True),
        sa.Column("destination", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("rows_total", sa.Integer, nullable=False),
        sa.Column("rows_valid", sa.Integer, nullable=False),
        sa.Column("rows_rejected", sa.Integer, nullable=False),
        sa.Column("rows_triggered", sa.Integer, nullable=False),
        sa.Column("report", sa.JSON, nullable=True),
        sa.Column("errors_csv", sa.LargeBinary, nullable=True),
        sa.Column("archived_as", sa.String(700), nullable=True),
        sa.Column("errors_file", sa.String(700), nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_uploads_customer_state", "uploads", ["customer_id", "state"])
    op.create_index(
        "ix_uploads_duplicates", "uploads", ["customer_id", "flow_id", "content_sha256"]
    )
    op.create_index("ix_uploads_created", "uploads", ["created_at"])
    op.create_table(
        "upload_steps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "upload_id",
            sa.String(32),
            sa.ForeignKey("uploads.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("detail", sa.JSON, nullable=True),
    )
    op.create_index("ix_upload_steps_upload_id", "upload_steps", ["upload_id"])
    op.create_table(
        "batches",
        sa.Column(
            "upload_id",
            sa.String(32),
            sa.ForeignKey("uploads.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("index", sa.Integer, primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("code", sa.Integer, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("sent_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "outbox",
        sa.Column("upload_id", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.String(256), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_outbox_pending", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "server_profiles",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("server_profiles", "outbox", "batches", "upload_steps", "uploads"):
        op.drop_table(table)
