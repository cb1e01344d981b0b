"""Every ready file ends (SPEC 3): an upload that failed unexpectedly, or was in hand
``MAX_ATTEMPTS`` times without finishing, is failed alone to Failure/ with its email.

The guard records the failure (the upload goes to TRIGGERED with Failure/ as its
destination and a reason quoting its id); the dispatcher then names, archives and
emails it as any other upload. It logs ``upload.crashed`` with the traceback and reports
to Sentry; the finished upload counts as ``files_total{outcome="crashed"}``.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sftp_watcher.decisions import Failed
from sftp_watcher.errors import StateError
from sftp_watcher.observability.sentry import capture, sentry_scope
from sftp_watcher.sources.base import Folder
from sftp_watcher.state.models import FINAL_STATES, BatchStatus, Upload, UploadState, snapshot
from sftp_watcher.state.store import BatchMark, Store
from sftp_watcher.steps import Steps

# Process runs that took an upload in hand without finishing it (an unexpected error,
# a kill, a hang cut short by the shutdown deadline) before it is failed.
MAX_ATTEMPTS = 3
# Runs after which an upload that cannot even be failed to Failure/ is abandoned.
GIVE_UP_ATTEMPTS = 2 * MAX_ATTEMPTS

_BEFORE_TRIGGERED = (UploadState.CLAIMING, UploadState.CLAIMED, UploadState.JUDGED)


def crash_reason(upload_id: str, *, repeated: bool) -> str:
    """What the account holder reads: what happened, the id to quote, what to do."""
    what = (
        f"processing it stopped {MAX_ATTEMPTS} times in a row"
        if repeated
        else "an unexpected error occurred while processing it"
    )
    return (
        f"the file could not be processed ({what}; upload id {upload_id}). Check that it is "
        "a call list as described in the upload guide (a .csv or .zip named "
        "C<UserID>_<FlowID>.csv), then upload it again; if it looks right, contact "
        f"support quoting upload id {upload_id}"
    )


class Guard:
    def __init__(self, steps: Steps, store: Store, log: Any) -> None:
        self.steps = steps
        self.store = store
        self._log = log

    def forget_attempt(self, upload_id: str) -> None:
        """An outage cut the attempt short: it does not count (best effort)."""
        # When the database is the outage, the attempt stays counted.
        with suppress(StateError):
            self.store.forget_attempt(upload_id)

    def fail(self, upload: Upload, exc: Exception | None) -> Upload:
        """Record the upload as failed (or abandoned, when it cannot be failed); the
        upload as recorded, ready for the dispatcher to archive and email."""
        log = self._log.bind(upload_id=upload.id, file=upload.original_name)
        customer = self.steps.customer.id
        if exc is not None:
            log.error("upload.crashed", error=repr(exc)[:500], exc_info=exc)
            with sentry_scope(customer=customer, flow_id=upload.flow_id, upload_id=upload.id):
                capture(exc)
        else:
            log.error("upload.crashed", error="in hand too many times", attempts=upload.attempts)
        current = self.store.get(upload.id)
        if current is None:
            raise StateError(f"upload {upload.id} is not in the state database")
        if current.state in FINAL_STATES:
            return current
        reason = crash_reason(upload.id, repeated=exc is None)
        if current.attempts > GIVE_UP_ATTEMPTS:
            log.error("upload.abandoned", attempts=current.attempts)
            return self.store.advance(
                upload.id, UploadState.ABANDONED, now=self.steps.clock(), reason=reason
            )
        report: dict[str, Any] = {"crashed": True, "file_errors": [reason]}
        if current.state is UploadState.ARCHIVED:
            # Already in its folder: only the email is left, saying what happened.
            self.store.update(upload.id, now=self.steps.clock(), report=report)
            return snapshot(current, report=report)
        failed = Failed(reason, report, *self._close_batches(current))
        if current.state is UploadState.CLAIMING:
            where = self._claimed_where(current)
            if where is None:
                return self.store.advance(
                    upload.id, UploadState.ABANDONED, now=self.steps.clock(), reason=reason
                )
            failed = Failed(reason, report, failed.rows_triggered, claim_name=where)
        now = self.steps.clock()
        if failed.marks:
            self.store.mark_batches(upload.id, failed.marks, now=now)
        if current.state in _BEFORE_TRIGGERED:
            return self.store.advance(
                upload.id, UploadState.TRIGGERED, now=now, detail=failed.detail(), **failed.values()
            )
        self.store.update(upload.id, now=now, **failed.values())
        return snapshot(current, **failed.values())

    def _close_batches(self, upload: Upload) -> tuple[int, tuple[BatchMark, ...]]:
        """Calls Phonon took, and the batches never to be sent: unsent ones failed, one
        Phonon may have received uncertain (so a duplicate check still sees it)."""
        if upload.state is not UploadState.JUDGED:
            return upload.rows_triggered, ()
        batches = self.store.batches(upload.id)
        sent = sum(b.calls for b in batches if b.status == BatchStatus.SENT.value)
        marks = tuple(
            BatchMark(
                b.index,
                BatchStatus.UNCERTAIN
                if b.status == BatchStatus.SENDING.value
                else BatchStatus.FAILED,
                {"message": "not sent: the upload could not be processed"},
            )
            for b in batches
            if b.status in (BatchStatus.PENDING.value, BatchStatus.SENDING.value)
        )
        return sent, marks

    def _claimed_where(self, upload: Upload) -> str | None:
        """Where an upload that failed before its claim was recorded is: its claim name,
        else its own name, else nowhere (it vanished)."""
        source = self.steps.source
        if source.exists(Folder.UPLOAD, upload.claim_name):
            return upload.claim_name
        if source.exists(Folder.UPLOAD, upload.original_name):
            return upload.original_name
        return None
