"""What a judgement and Phonon's answers add up to: the recorded summary, the outcome
label, and the reasons the customer reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import tzinfo
from typing import Any

from sftp_watcher.calllist import Outcome, Report
from sftp_watcher.state.models import Batch, BatchStatus, Upload

# Row errors kept in the state database for the email; the full list is in .errors.csv.
MAX_ROW_ERRORS_KEPT = 50

# Batches Phonon did not take: refused for good, or given up on without an answer.
UNANSWERED = (BatchStatus.FAILED.value, BatchStatus.UNCERTAIN.value)


def with_file_error(report: Report, reason: str) -> Report:
    """The report rejected as a whole for ``reason`` (e.g. a duplicate upload)."""
    return replace(
        report, outcome=Outcome.REJECTED, file_errors=(*report.file_errors, reason), records=()
    )


def outcome_label(upload: Upload) -> str:
    """accepted | partial | rejected | duplicate | failed (Phonon refused it) | crashed
    (it could not be processed, SPEC 3), for metrics."""
    report = upload.report or {}
    if report.get("crashed"):
        return "crashed"
    if upload.destination == "success":
        return "partial" if upload.rows_triggered < upload.rows_total else "accepted"
    if report.get("duplicate_of"):
        return "duplicate"
    return "failed" if report.get("phonon_errors") else "rejected"


def phonon_error_lines(batches: list[Batch]) -> list[str]:
    """``batch 2: 212 Insufficient Balance`` for each batch not taken (or taken in part)."""
    return [
        f"batch {b.index + 1}: {b.code if b.code is not None else 'no answer'} {b.message}"
        for b in batches
        if b.status in UNANSWERED or b.code == 209
    ]


def duplicate_reason(earlier: Upload, flow_id: str | None, tz: tzinfo) -> str:
    """Why a list is not sent again: ``earlier`` called (or may have called) its people."""
    when = (earlier.judged_at or earlier.created_at).astimezone(tz)
    where = (
        f"for flow {flow_id} as {earlier.original_name} on {when:%d %b %Y %H:%M %Z} "
        f"(upload {earlier.id})"
    )
    if earlier.destination != "success":
        return (
            f"the same list was sent to Phonon {where} and Phonon did not answer, so it may "
            "be placing those calls; it was not sent again so nobody is called twice. Check "
            "Phonon's call report, and upload it again after the duplicate window if nobody "
            "was called."
        )
    return (
        f"the same list was already processed {where}; it was not scheduled again so "
        "nobody is called twice. To call the same list again on purpose, give the file "
        "another start time in its name (C<UserID>_<FlowID>_upload_DDMMYYYYHHMMSS.csv), "
        "or upload it again after the duplicate window"
    )


def phonon_failure_reason(failed: list[Batch], phonon_errors: list[str]) -> str:
    """Why no batch of a file went through, and what the customer should do about it."""
    first = phonon_errors[0]
    if any(b.status == BatchStatus.UNCERTAIN.value for b in failed):
        return (
            f"Phonon did not answer in time and may have received the list ({first}). "
            "Check Phonon's call report before uploading it again: a second upload "
            "could call the same people twice"
        )
    if all(b.code is None for b in failed):
        return (
            f"Phonon could not be reached ({first}). Nothing was scheduled: upload the "
            "file again once Phonon is reachable"
        )
    return f"Phonon refused the list: {first}"


def report_summary(report: Report) -> dict[str, Any]:
    data = report.to_json()
    data["row_errors"] = data["row_errors"][:MAX_ROW_ERRORS_KEPT]
    return data
