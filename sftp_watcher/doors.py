"""What a door (the mailbox, the upload page) hands the pipeline: an upload it has staged.

A door stages an item's bytes at ``Upload/<claim name>`` of the pipeline's source, then
records it here, already CLAIMED: the door's own record is its claim, so a resumed door
item, entered again under its deterministic id, finds the same upload and never calls
anyone twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sftp_watcher.sources.names import claim_name
from sftp_watcher.state.models import Upload, UploadState

if TYPE_CHECKING:
    from sftp_watcher.pipeline import Pipeline


def enter(
    pipeline: Pipeline,
    upload_id: str,
    original_name: str,
    *,
    size: int,
    uploaded_at: datetime,
    judged_name: str | None = None,
    sender: str | None = None,
) -> Upload:
    """Record the staged upload; idempotent: an existing ``upload_id`` is returned unchanged."""
    existing = pipeline.store.get(upload_id)
    if existing is not None:
        return existing
    door = {
        "state": UploadState.CLAIMED.value,
        "channel": pipeline.channel,
        "sender": sender,
        "judged_name": judged_name,
    }
    return pipeline.store.create_upload(
        upload_id=upload_id,
        customer_id=pipeline.customer.id,
        original_name=original_name,
        claim_name=claim_name(upload_id, original_name),
        size=size,
        uploaded_at=uploaded_at,
        now=pipeline.clock(),
        door=door,
    )
