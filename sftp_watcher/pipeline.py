"""One upload through its steps: claim, judge, trigger, archive, notify (SPEC 1, 3, 9).

Each step starts from the state recorded in the database and records the next state
(and every name or byte it decided on) before or right after its side effect, so a
process killed at any moment resumes exactly where it stopped: the same claim name,
the same Phonon request bytes, the same archive name, one email. Straight through,
a step hands the next what it knows and the next records both outcomes in one
transaction (claimed with judged, archived with done and the email queued).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import SecretStr

from sftp_watcher.calllist import Report, Rules, errors_csv, judge, rejected_report
from sftp_watcher.config import CustomerConfig, FlowConfig, Settings
from sftp_watcher.crashpoints import crashpoint
from sftp_watcher.errors import (
    FileRejected,
    PhononRejected,
    PhononTemporaryError,
    RemoteFileNotFound,
)
from sftp_watcher.notify import render
from sftp_watcher.notify.summary import notice_for
from sftp_watcher.observability import metrics
from sftp_watcher.outcome import (
    UNANSWERED,
    duplicate_reason,
    outcome_label,
    phonon_error_lines,
    phonon_failure_reason,
    report_summary,
    with_file_error,
)
from sftp_watcher.phonon import Trigger, build_batches
from sftp_watcher.phonon.requests import Batch as RequestBatch
from sftp_watcher.sources.base import Entry, Folder, Source
from sftp_watcher.sources.names import claim_name, free_name
from sftp_watcher.state.models import Batch, BatchStatus, Upload, UploadState, snapshot
from sftp_watcher.state.store import BatchMark, QueuedEmail, Store

log = structlog.get_logger("sftp_watcher.pipeline")

Clock = Callable[[], datetime]

# Stored request bodies carry this instead of the flow's secret (the database is not
# a place for secrets); it is swapped back in right before sending.
SECRET_PLACEHOLDER = "@@security-id@@"  # noqa: S105 - a marker, not a secret


def utc_now() -> datetime:
    return datetime.now(UTC)


Handover = Callable[[str], AbstractContextManager[Callable[[QueuedEmail], object]]]


@dataclass
class Pipeline:
    settings: Settings
    customer: CustomerConfig
    source: Source
    store: Store
    trigger: Trigger
    clock: Clock = utc_now
    # Reserves an upload's email before it is queued, then hands it over at once.
    handover: Handover | None = None

    def __post_init__(self) -> None:
        self.rules = Rules.for_customer(self.settings, self.customer)
        self._log = log.bind(customer=self.customer.id)

    # -- entry points ---------------------------------------------------------------------

    def start(self, entry: Entry) -> Upload:
        """Record a new upload for a ready file in Upload/ (the claim rename comes next)."""
        upload_id = uuid.uuid4().hex
        return self._record(upload_id, entry.name, claim_name(upload_id, entry.name), entry)

    def adopt(self, upload_id: str, original: str, entry: Entry) -> Upload:
        """Take over a claim whose record is missing (e.g. a restored database)."""
        upload = self._record(upload_id, original, entry.name, entry)
        self._log.warning("upload.adopted", upload_id=upload_id, file=original)
        return upload

    def _record(self, upload_id: str, original: str, claim: str, entry: Entry) -> Upload:
        return self.store.create_upload(
            upload_id=upload_id,
            customer_id=self.customer.id,
            original_name=original,
            claim_name=claim,
            size=entry.size,
            uploaded_at=datetime.fromtimestamp(entry.mtime, UTC),
            now=self.clock(),
        )

    def run(self, upload: Upload) -> Upload:
        """Drive the upload forward until it is done (or abandoned). Resumable at any step."""
        steps: dict[UploadState, Callable[[Upload], Upload]] = {
            UploadState.CLAIMING: self._claim,
            UploadState.CLAIMED: self._judge,
            UploadState.JUDGED: self._trigger,
            UploadState.TRIGGERED: self._archive,
            UploadState.ARCHIVED: self._notify,
        }
        while (step := steps.get(UploadState(upload.state))) is not None:
            upload = step(upload)
        return upload

    # -- steps -------------------------------------------------------------------------

    def _claim(self, upload: Upload) -> Upload:
        log = self._log.bind(upload_id=upload.id, file=upload.original_name)
        crashpoint("claim.before_rename")
        try:
            self.source.rename(
                Folder.UPLOAD, upload.original_name, Folder.UPLOAD, upload.claim_name
            )
            crashpoint("claim.after_rename")
        except RemoteFileNotFound:
            # Either we renamed it before a crash, or it vanished (the customer deleted
            # it, another replica claimed it): only the claim name tells which.
            if not self.source.exists(Folder.UPLOAD, upload.claim_name):
                log.info("file.vanished")
                return self.store.advance(
                    upload.id, UploadState.ABANDONED, now=self.clock(), reason="file vanished"
                )
        log.info("file.claimed", claim=upload.claim_name)
        # Recorded together with the judgement: a crash before it finds the claim name
        # in Upload/ and comes back here, which is all CLAIMED would have said.
        return self._judge(upload, claimed=True)

    def _judge(self, upload: Upload, *, claimed: bool = False) -> Upload:
        log = self._log.bind(upload_id=upload.id, file=upload.original_name)
        now = self.clock()
        sha256: str | None = None
        try:
            data = self.source.read(
                Folder.UPLOAD,
                upload.claim_name,
                self.settings.limits.max_file_bytes,
                size=upload.size,
            )
        except FileRejected as exc:
            report = rejected_report(upload.original_name, exc.reason)
        else:
            crashpoint("judge.after_read")
            sha256 = hashlib.sha256(data).hexdigest()
            report = judge(upload.original_name, data, self.rules, now)
            log.info("file.read", size=len(data), sha256=sha256)
        earlier = self._duplicate_of(upload, report, sha256, now)
        duplicate_id = earlier.id if earlier is not None else None
        if earlier is not None:
            why = duplicate_reason(earlier, report.flow_id, self.rules.timezone)
            report = with_file_error(report, why)
            log.warning("file.duplicate", earlier_upload_id=earlier.id)
        flow = self.customer.flow(report.flow_id) if report.flow_id else None
        bodies: list[tuple[bytes, int]] = []
        if report.records and flow is not None and earlier is None:
            placeholder_flow = flow.model_copy(
                update={"security_id": SecretStr(SECRET_PLACEHOLDER)}
            )
            batches = build_batches(upload.id, placeholder_flow, report.records)
            bodies = [(b.body, len(b.client_ids)) for b in batches]
        reason = report.file_errors[0] if report.file_errors else None
        if not bodies and reason is None:
            reason = "no valid rows: every row was rejected (see the rejected rows below)"
        log.info(
            "file.validated",
            outcome=report.outcome.value,
            rows_total=report.rows_total,
            rows_valid=report.rows_valid,
            rows_rejected=report.rows_rejected,
            flow_id=report.flow_id,
        )
        metrics.record_rows(self.customer.id, "valid", report.rows_valid)
        metrics.record_rows(self.customer.id, "rejected", report.rows_rejected)
        judged = self.store.advance(
            upload.id,
            UploadState.JUDGED,
            now=now,
            via=((UploadState.CLAIMED, None),) if claimed else (),
            batches=bodies,
            judged_at=now,
            content_sha256=sha256,
            flow_id=report.flow_id,
            destination="success" if bodies else "failure",
            reason=None if bodies else reason,
            rows_total=report.rows_total,
            rows_valid=report.rows_valid,
            rows_rejected=report.rows_rejected,
            report={**report_summary(report), "duplicate_of": duplicate_id},
            errors_csv=errors_csv(report) if report.row_errors else None,
            detail={"outcome": report.outcome.value, "batches": len(bodies)},
            # The first batch goes out next: marked as attempted here, not on its own.
            mark=BatchMark(0, BatchStatus.SENDING) if bodies else None,
        )
        crashpoint("judge.after_record")
        # The batches as just recorded, none tried yet: no need to read them back.
        pending = BatchStatus.PENDING.value
        recorded = [
            Batch(upload_id=upload.id, index=i, body=b, calls=n, status=pending, attempts=0)
            for i, (b, n) in enumerate(bodies)
        ]
        return self._trigger(judged, recorded, marked=0 if recorded else None)

    def _duplicate_of(
        self, upload: Upload, report: Report, sha256: str | None, now: datetime
    ) -> Upload | None:
        """An earlier upload of the same content for the same flow, within the window."""
        hours = self.settings.duplicate_window_hours
        if not hours or sha256 is None or report.flow_id is None or not report.records:
            return None
        return self.store.find_duplicate(
            customer_id=self.customer.id,
            flow_id=report.flow_id,
            sha256=sha256,
            since=now - timedelta(hours=hours),
            exclude_id=upload.id,
        )

    def _trigger(
        self, upload: Upload, batches: list[Batch] | None = None, marked: int | None = None
    ) -> Upload:
        """Send the unsent batches; ``marked``: the batch already recorded as being sent."""
        flow = self.customer.flow(upload.flow_id) if upload.flow_id else None
        if batches is None:
            batches = self.store.batches(upload.id)
        # The archive names are chosen first, so that the last batch's answer is
        # recorded (with the outcome and the names) right after it comes in.
        names = self._archive_names(upload, upload.destination)
        answers: dict[int, BatchMark] = {}
        last: BatchMark | None = None  # recorded with the step's outcome, below
        if flow is not None:
            deadline = time.monotonic() + self.settings.phonon.retry_budget_seconds
            for batch in (b for b in batches if b.status in _UNSENT):
                # Recorded before the batch goes out: the previous answer, and this attempt.
                marks = [] if last is None else [last]
                if batch.index != marked:
                    marks.append(BatchMark(batch.index, BatchStatus.SENDING))
                if marks:
                    self.store.mark_batches(upload.id, marks, now=self.clock())
                last = answers[batch.index] = self._send(upload, flow, batch, deadline)
        final = [_answered(b, answers.get(b.index)) for b in batches]
        sent = [b for b in final if b.status == BatchStatus.SENT.value]
        failed = [b for b in final if b.status in UNANSWERED]
        phonon_errors = phonon_error_lines(final)
        fields: dict[str, Any] = {"rows_triggered": sum(b.calls for b in sent)}
        if final and not sent:
            fields["destination"] = "failure"
            fields["reason"] = phonon_failure_reason(failed, phonon_errors)
            names = self._archive_names(upload, "failure")
        report = dict(upload.report or {})
        report["request_ids"] = [b.request_id for b in sent if b.request_id]
        report["phonon_errors"] = phonon_errors
        fields["report"] = report
        triggered = self.store.advance(
            upload.id,
            UploadState.TRIGGERED,
            now=self.clock(),
            detail={"sent": len(sent), "failed": len(failed)},
            mark=last,
            **fields | names,
        )
        return self._archive(triggered, names_fresh=True)

    def _archive_names(self, upload: Upload, destination: str | None) -> dict[str, Any]:
        """Free names for the file (and its errors file) in its folder, recorded before the move."""
        folder = _folder(destination)
        archived_as = free_name(self.source, folder, upload.original_name, self.clock())
        names: dict[str, Any] = {"archived_as": archived_as}
        if upload.errors_csv is not None:
            desired = f"{archived_as}.errors.csv"
            names["errors_file"] = free_name(self.source, folder, desired, self.clock())
        return names

    def _send(self, upload: Upload, flow: FlowConfig, batch: Batch, deadline: float) -> BatchMark:
        """Send one batch (recorded as being sent); its answer is returned to be recorded."""
        log = self._log.bind(upload_id=upload.id, flow_id=upload.flow_id, batch=batch.index)
        resumed = batch.status == BatchStatus.SENDING.value
        secret = flow.security_id.get_secret_value().encode()
        body = batch.body.replace(SECRET_PLACEHOLDER.encode(), secret, 1)
        calls = json.loads(body)["calls"]
        request = RequestBatch(
            index=batch.index,
            body=body,
            client_ids=tuple(c["client-identifier"] for c in calls),
            lines=(),
        )
        crashpoint("phonon.before_send")
        try:
            result = self.trigger.send(flow, request, deadline=deadline, resumed=resumed)
            crashpoint("phonon.after_send")
        except (PhononRejected, PhononTemporaryError) as exc:
            log.error(
                "phonon.batch_rejected",
                code=exc.code,
                error=str(exc),
                maybe_received=exc.maybe_received,
            )
            metrics.record_phonon_error(upload.flow_id or "", exc.code or "none")
            status, message = BatchStatus.FAILED, str(exc)
            if exc.maybe_received:
                status = BatchStatus.UNCERTAIN
                message += "; Phonon may have received these calls and may be placing them"
            return BatchMark(batch.index, status, {"code": exc.code, "message": message})
        metrics.record_phonon_batch(upload.flow_id or "", result.code)
        extra: dict[str, Any] = {"message": result.message}
        if result.partial:
            # 209 Partial Success: only the calls Phonon lists were scheduled.
            extra["calls"] = len(result.call_details)
            extra["message"] = (
                f"{result.message}: {len(result.call_details)} of {batch.calls} calls accepted"
            )
        fields = {"code": result.code, "request_id": result.request_id, **extra}
        return BatchMark(batch.index, BatchStatus.SENT, fields)

    def _archive(self, upload: Upload, *, names_fresh: bool = False) -> Upload:
        """Move the claim to its folder. ``names_fresh``: the names were chosen a moment
        ago and nothing was moved since, so the checks a resume needs are skipped; the
        rename itself still says when the claim is gone.
        """
        log = self._log.bind(upload_id=upload.id, file=upload.original_name)
        folder = _folder(upload.destination)
        if names_fresh and upload.archived_as is not None:
            try:
                self._move(upload, folder, upload.archived_as)
            except RemoteFileNotFound:
                names_fresh = False  # the claim is gone: find out how, as a resume does
            else:
                errors_file = self._write_errors_file(upload, folder, fresh=True)
                crashpoint("archive.after_errors_file")
                return self._notify(upload, archived=(folder, upload.archived_as, errors_file))
        archived_as = upload.archived_as
        claim_present = self.source.exists(Folder.UPLOAD, upload.claim_name)
        if claim_present and (archived_as is None or self.source.exists(folder, archived_as)):
            # Choose (or re-choose, if something took our name meanwhile) a free name,
            # and record it before moving, so a resume moves to the same place.
            archived_as = free_name(self.source, folder, upload.original_name, self.clock())
            self.store.update(upload.id, now=self.clock(), archived_as=archived_as)
            upload = snapshot(upload, archived_as=archived_as, errors_file=None)
        if archived_as is None:
            raise RemoteFileNotFound(
                f"claimed file {upload.claim_name} is missing", customer=self.customer.id
            )
        if claim_present:
            self._move(upload, folder, archived_as)
        elif not self.source.exists(folder, archived_as):
            # Neither claimed nor archived: someone removed it by hand. Say so, and
            # still tell the customer what happened to their list.
            log.error("file.lost", folder=folder.value, archived_as=archived_as)
        errors_file = self._write_errors_file(upload, folder)
        crashpoint("archive.after_errors_file")
        return self._notify(upload, archived=(folder, archived_as, errors_file))

    def _move(self, upload: Upload, folder: Folder, archived_as: str) -> None:
        crashpoint("archive.before_rename")
        self.source.rename(Folder.UPLOAD, upload.claim_name, folder, archived_as)
        crashpoint("archive.after_rename")
        self._log.info(
            "file.archived",
            upload_id=upload.id,
            file=upload.original_name,
            folder=folder.value,
            archived_as=archived_as,
        )

    def _write_errors_file(
        self, upload: Upload, folder: Folder, *, fresh: bool = False
    ) -> str | None:
        if upload.errors_csv is None:
            return None
        name = upload.errors_file
        if name is not None and not fresh and self.source.exists(folder, name):
            return name  # written before a crash
        if name is None:
            desired = f"{upload.archived_as}.errors.csv"
            name = free_name(self.source, folder, desired, self.clock())
            self.store.update(upload.id, now=self.clock(), errors_file=name)
        # Written under a private name first, so a crash mid-write never leaves a
        # truncated errors file under the name the customer reads.
        temp = f".sftp-watcher-tmp.{upload.id}.errors.csv"
        if not fresh and self.source.exists(folder, temp):
            self.source.remove(folder, temp)
        self.source.write(folder, temp, upload.errors_csv)
        self.source.rename(folder, temp, folder, name)
        self._log.info("errors_file.written", upload_id=upload.id, errors_file=name)
        return name

    def _notify(
        self, upload: Upload, archived: tuple[Folder, str, str | None] | None = None
    ) -> Upload:
        """Queue the email and finish, in one transaction (with ARCHIVED, when ``archived``
        says where the file went), so the upload is never done without its email.
        """
        via: tuple[tuple[UploadState, dict[str, Any] | None], ...] = ()
        fields: dict[str, Any] = {}
        if archived is not None:
            folder, archived_as, errors_file = archived
            fields = {"archived_as": archived_as, "errors_file": errors_file}
            upload = snapshot(upload, **fields)
            via = ((UploadState.ARCHIVED, {"folder": folder.value, "archived_as": archived_as}),)
        notice = notice_for(upload, self.customer, timezone=self.rules.timezone, now=self.clock())
        email = None
        if self.customer.emails:
            message = render(notice, sender=self.settings.email.from_)
            email = QueuedEmail(
                str(message["Message-ID"]), tuple(self.customer.emails), bytes(message)
            )
        handing_over = self.handover(upload.id) if self.handover else nullcontext(None)
        with handing_over as send:
            done = self.store.advance(
                upload.id, UploadState.DONE, now=self.clock(), via=via, email=email, **fields
            )
            metrics.record_file(self.customer.id, outcome_label(done))
            if email is not None:
                self._log.info("email.queued", upload_id=upload.id)
                crashpoint("notify.after_queue")
                if send is not None:
                    send(email)
        return done


_UNSENT = (BatchStatus.PENDING.value, BatchStatus.SENDING.value)


def _folder(destination: str | None) -> Folder:
    return Folder.SUCCESS if destination == "success" else Folder.FAILURE


def _answered(batch: Batch, answer: BatchMark | None) -> Batch:
    """The batch as it stands once ``answer`` (if any) is recorded."""
    if answer is None:
        return batch
    return snapshot(batch, status=answer.status.value, **answer.fields)
