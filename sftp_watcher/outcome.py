"""What a judgement and Phonon's answers add up to: the recorded summary and the outcome label."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sftp_watcher.calllist import Outcome, Report
from sftp_watcher.state.models import Batch, BatchStatus, Upload

# Row errors kept in the state database for the email; the full list is in .errors.csv.
MAX_ROW_ERRORS_KEPT = 50


def with_file_error(report: Report, reason: str) -> Report:
    """The report rejected as a whole for ``reason`` (e.g. a duplicate upload)."""
    return replace(
        report, outcome=Outcome.REJECTED, file_errors=(*report.file_errors, reason), records=()
    )


def outcome_label(upload: Upload) -> str:
    """accepted | partial | rejected | duplicate | failed (Phonon refused it), for metrics."""
    report = upload.report or {}
    if upload.destination == "success":
        return "partial" if upload.rows_triggered < upload.rows_total else "accepted"
    if report.get("duplicate_of"):
        return "duplicate"
    return "failed" if report.get("phonon_errors") else "rejected"


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
