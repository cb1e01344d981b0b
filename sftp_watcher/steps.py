"""The steps of an upload: claim, judge, trigger, name, locate, archive, notify (SPEC 1, 3).

Each step is a function of the upload as recorded (and what the step before it handed
over) that does its side effect, if any, and returns what it decided
(``sftp_watcher.decisions``). None of them moves the upload from state to state: the
dispatcher (``Pipeline.run``) records every decision. Crash points sit at the side effects.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import SecretStr

from sftp_watcher.calllist import Report, Rules, errors_csv, rejected_report
from sftp_watcher.config import CustomerConfig, FlowConfig, Settings
from sftp_watcher.crashpoints import crashpoint
from sftp_watcher.decisions import (
    Archived,
    Claimed,
    Judged,
    Located,
    Named,
    Notified,
    Triggered,
    Vanished,
)
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
    phonon_error_lines,
    phonon_failure_reason,
    report_summary,
    with_file_error,
)
from sftp_watcher.phonon import Trigger, build_batches
from sftp_watcher.phonon.requests import Batch as RequestBatch
from sftp_watcher.sources.base import Folder, Source
from sftp_watcher.sources.names import MAX_NAME_BYTES, free_pair
from sftp_watcher.state.models import Batch, BatchStatus, Destination, Upload, snapshot
from sftp_watcher.state.store import BatchMark, QueuedEmail, Store

log = structlog.get_logger("sftp_watcher.pipeline")

Clock = Callable[[], datetime]

# Stored request bodies carry this instead of the flow's secret (the database is not
# a place for secrets); it is swapped back in right before sending.
SECRET_PLACEHOLDER = "@@security-id@@"  # noqa: S105 - a marker, not a secret

UNSENT = (BatchStatus.PENDING.value, BatchStatus.SENDING.value)


def folder_of(destination: str | None) -> Folder:
    return Folder.SUCCESS if destination == Destination.SUCCESS else Folder.FAILURE


@dataclass
class Steps:
    settings: Settings
    customer: CustomerConfig
    source: Source
    store: Store
    trigger_: Trigger
    clock: Clock
    rules: Rules

    def __post_init__(self) -> None:
        self._log = log.bind(customer=self.customer.id)

    def claim(self, upload: Upload) -> Claimed | Vanished:
        """Rename the file to its claim name; only the process that renamed it goes on."""
        log = self._log.bind(upload_id=upload.id, file=upload.original_name)
        crashpoint("claim.before_rename", self.customer.id)
        try:
            self.source.rename(
                Folder.UPLOAD, upload.original_name, Folder.UPLOAD, upload.claim_name
            )
            crashpoint("claim.after_rename", self.customer.id)
        except RemoteFileNotFound:
            # Either we renamed it before a crash, or it vanished (the customer deleted
            # it, another replica claimed it): only the claim name tells which.
            if not self.source.exists(Folder.UPLOAD, upload.claim_name):
                log.info("file.vanished")
                return Vanished("file vanished")
        log.info("file.claimed", claim=upload.claim_name)
        return Claimed()

    def judge(self, upload: Upload) -> Judged:
        """Read the claimed file and judge it: the batches to send and where it goes."""
        # pandas loads with the first file judged, not with every sweep's start.
        from sftp_watcher.calllist.judging import judge

        log = self._log.bind(upload_id=upload.id, file=upload.original_name)
        now = self.clock()
        sha256: str | None = None
        name = upload.judged_name or upload.original_name
        try:
            data = self.source.read(
                Folder.UPLOAD,
                upload.claim_name,
                self.settings.limits.max_file_bytes,
                size=upload.size,
            )
        except FileRejected as exc:
            # The customer knows the file by its own name, not by the claim's.
            why = exc.reason.replace(upload.claim_name, upload.original_name)
            report = rejected_report(name, why)
        else:
            crashpoint("judge.after_read", self.customer.id)
            sha256 = hashlib.sha256(data).hexdigest()
            report = judge(name, data, self.rules, now)
            log.info("file.read", size=len(data), sha256=sha256)
        earlier = self._duplicate_of(upload, report, sha256, now)
        if earlier is not None:
            why = duplicate_reason(earlier, report.flow_id, self.rules.timezone)
            report = with_file_error(report, why)
            log.warning("file.duplicate", earlier_upload_id=earlier.id)
        flow = self.customer.flow(report.flow_id) if report.flow_id else None
        bodies: tuple[tuple[bytes, int], ...] = ()
        if report.records and flow is not None and earlier is None:
            placeholder_flow = flow.model_copy(
                update={"security_id": SecretStr(SECRET_PLACEHOLDER)}
            )
            batches = build_batches(upload.id, placeholder_flow, report.records)
            bodies = tuple((b.body, len(b.client_ids)) for b in batches)
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
        summary = report_summary(report)
        summary["duplicate_of"] = earlier.id if earlier is not None else None
        return Judged(
            judged_at=now,
            content_sha256=sha256,
            flow_id=report.flow_id,
            start_time=report.start_time,
            destination=Destination.SUCCESS if bodies else Destination.FAILURE,
            reason=None if bodies else reason,
            rows_total=report.rows_total,
            rows_valid=report.rows_valid,
            rows_rejected=report.rows_rejected,
            report=summary,
            errors_csv=errors_csv(report) if report.row_errors else None,
            bodies=bodies,
            outcome=report.outcome.value,
        )

    def _duplicate_of(
        self, upload: Upload, report: Report, sha256: str | None, now: datetime
    ) -> Upload | None:
        """An earlier upload of the same content, flow and start time, within the window."""
        hours = self.settings.duplicate_window_hours
        if not hours or sha256 is None or report.flow_id is None or not report.records:
            return None
        return self.store.find_duplicate(
            customer_id=self.customer.id,
            flow_id=report.flow_id,
            sha256=sha256,
            start_time=report.start_time,
            since=now - timedelta(hours=hours),
            exclude_id=upload.id,
        )

    def trigger(self, upload: Upload, batches: list[Batch], marked: int | None) -> Triggered:
        """Send the unsent batches; ``marked``: the batch already recorded as being sent.

        Each attempt is recorded (with the previous batch's answer) before it goes out;
        the last answer is returned with the decision, to be recorded with it.
        """
        flow = self.customer.flow(upload.flow_id) if upload.flow_id else None
        answers: dict[int, BatchMark] = {}
        last: BatchMark | None = None
        if flow is not None:
            deadline = time.monotonic() + self.settings.phonon.retry_budget_seconds
            for batch in (b for b in batches if b.status in UNSENT):
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
        destination = folder_destination(upload.destination)
        reason = upload.reason
        if final and not sent:
            destination = Destination.FAILURE
            reason = phonon_failure_reason(failed, phonon_errors)
        report = dict(upload.report or {})
        report["request_ids"] = [b.request_id for b in sent if b.request_id]
        report["phonon_errors"] = phonon_errors
        return Triggered(
            rows_triggered=sum(b.calls for b in sent),
            destination=destination,
            reason=reason,
            report=report,
            sent=len(sent),
            failed=len(failed),
            last=last,
        )

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
        crashpoint("phonon.before_send", self.customer.id)
        try:
            result = self.trigger_.send(flow, request, deadline=deadline, resumed=resumed)
            crashpoint("phonon.after_send", self.customer.id)
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

    def name(self, upload: Upload) -> Named:
        """Free names for the file and its errors file in its folder (SPEC 3: the pair)."""
        folder = folder_of(upload.destination)
        archived_as = free_pair(self.source, folder, upload.original_name, self.clock())
        errors_file = f"{archived_as}.errors.csv" if upload.errors_csv is not None else None
        if errors_file is not None and len(errors_file.encode()) > MAX_NAME_BYTES:
            # No server takes a name that long: the email carries the rejected rows.
            self._log.warning("errors_file.name_too_long", upload_id=upload.id)
            errors_file = None
        return Named(archived_as, errors_file)

    def locate(self, upload: Upload) -> Named | Located:
        """Where a resumed upload's file is; fresh names if something took its own."""
        folder = folder_of(upload.destination)
        claimed = self.source.exists(Folder.UPLOAD, upload.claim_name)
        if claimed and (
            upload.archived_as is None or self.source.exists(folder, upload.archived_as)
        ):
            return self.name(upload)
        if upload.archived_as is None:
            raise RemoteFileNotFound(
                f"claimed file {upload.claim_name} is missing", customer=self.customer.id
            )
        return Located(claimed)

    def archive(self, upload: Upload, *, move: bool) -> Archived:
        """Move the claim to its recorded name (``move``: it is still claimed; else it was
        moved before a crash) and write the errors file beside it."""
        folder = folder_of(upload.destination)
        archived_as = upload.archived_as
        if archived_as is None:
            raise RemoteFileNotFound(
                f"no archive name recorded for {upload.claim_name}", customer=self.customer.id
            )
        if move:
            crashpoint("archive.before_rename", self.customer.id)
            self.source.rename(Folder.UPLOAD, upload.claim_name, folder, archived_as)
            crashpoint("archive.after_rename", self.customer.id)
            self._log.info(
                "file.archived",
                upload_id=upload.id,
                file=upload.original_name,
                folder=folder.value,
                archived_as=archived_as,
            )
        elif not self.source.exists(folder, archived_as):
            # Neither claimed nor archived: someone removed it by hand. Say so, and
            # still tell the customer what happened to their list.
            self._log.error("file.lost", folder=folder.value, archived_as=archived_as)
        errors_file = self._write_errors_file(upload, folder, fresh=move)
        crashpoint("archive.after_errors_file", self.customer.id)
        return Archived(folder, archived_as, errors_file)

    def _write_errors_file(self, upload: Upload, folder: Folder, *, fresh: bool) -> str | None:
        name = upload.errors_file
        if upload.errors_csv is None or name is None:
            return None
        if not fresh and self.source.exists(folder, name):
            return name  # written before a crash
        # Written under a private name first, so a crash mid-write never leaves a
        # truncated errors file under the name the customer reads.
        temp = f".sftp-watcher-tmp.{upload.id}.errors.csv"
        if not fresh and self.source.exists(folder, temp):
            self.source.remove(folder, temp)
        self.source.write(folder, temp, upload.errors_csv)
        self.source.rename(folder, temp, folder, name)
        self._log.info("errors_file.written", upload_id=upload.id, errors_file=name)
        return name

    def notify(self, upload: Upload) -> Notified:
        """The account holder's email about the upload as recorded."""
        notice = notice_for(upload, self.customer, timezone=self.rules.timezone, now=self.clock())
        if not self.customer.emails:
            return Notified(None)
        message = render(notice, sender=self.settings.email.from_)
        return Notified(
            QueuedEmail(str(message["Message-ID"]), tuple(self.customer.emails), bytes(message))
        )


def folder_destination(destination: str | None) -> Destination:
    return Destination.SUCCESS if destination == Destination.SUCCESS else Destination.FAILURE


def _answered(batch: Batch, answer: BatchMark | None) -> Batch:
    """The batch as it stands once ``answer`` (if any) is recorded."""
    if answer is None:
        return batch
    return snapshot(batch, status=answer.status.value, **answer.fields)
