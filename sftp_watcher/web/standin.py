"""Stand-in for ``Pipeline.enter`` of the door contract, until the pipeline offers it.

Records an upload whose bytes a door has already staged at its claim name, in state
CLAIMED; idempotent by ``upload_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from sftp_watcher.errors import StateError
from sftp_watcher.pipeline import Pipeline
from sftp_watcher.sources.names import claim_name
from sftp_watcher.state import statements as sql
from sftp_watcher.state.models import Upload, UploadState


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
