"""Stand-in for ``Pipeline.enter`` of the door contract, until the pipeline offers it.

Records an upload whose bytes a door has already staged at its claim name, in state
CLAIMED; idempotent by ``upload_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sftp_watcher.errors import StateError
from sftp_watcher.pipeline import Pipeline
from sftp_watcher.sources.names import claim_name
from sftp_watcher.state import statements as sql
from sftp_watcher.state.models import FINAL_STATES, Upload, UploadState
from sftp_watcher.state.store import Store


def enter(
    pipeline: Pipeline,
    upload_id: str,
    original_name: str,
    *,
    size: int,
    uploaded_at: datetime,
    channel: str,
    judged_name: str | None = None,
    sender: str | None = None,
) -> Upload:
    existing = pipeline.store.get(upload_id)
    if existing is not None:
        return existing
    now = pipeline.clock()
    values: dict[str, Any] = {c.name: None for c in sql.UPLOADS.columns} | {
        "id": upload_id,
        "customer_id": pipeline.customer.id,
        "original_name": original_name,
        "claim_name": claim_name(upload_id, original_name),
        "state": UploadState.CLAIMED.value,
        "size": size,
        "uploaded_at": uploaded_at,
        "created_at": now,
        "updated_at": now,
        "rows_total": 0,
        "rows_valid": 0,
        "rows_rejected": 0,
        "rows_triggered": 0,
        "channel": channel,
        "sender": sender,
        "judged_name": judged_name,
    }
    try:
        with pipeline.store.engine.begin() as connection:
            connection.execute(sql.INSERT_UPLOAD, values)
            connection.execute(
                sql.INSERT_STEP, sql.step_row(upload_id, UploadState.CLAIMED, now, None)
            )
    except IntegrityError:
        pass  # recorded meanwhile by the same confirmation
    found = pipeline.store.get(upload_id)
    if found is None:  # pragma: no cover - the insert or the other one committed
        raise StateError(f"upload {upload_id} was not recorded")
    return found


def unfinished(store: Store, customer_id: str, channel: str) -> list[Upload]:
    """The customer's unfinished uploads of one door (``Store.unfinished`` sweeps only
    the account's own)."""
    query = (
        select(Upload)
        .where(
            Upload.customer_id == customer_id,
            Upload.channel == channel,
            Upload.state.not_in([s.value for s in FINAL_STATES]),
        )
        .order_by(Upload.created_at)
    )
    try:
        with store.session() as session:
            return list(session.scalars(query))
    except SQLAlchemyError as exc:
        raise StateError(f"state database error: {exc.__class__.__name__}") from exc
