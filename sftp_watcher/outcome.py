"""What a judgement and Phonon's answers add up to: the recorded summary and the outcome label."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sftp_watcher.calllist import Outcome, Report
from sftp_watcher.state.models import Upload

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


def report_summary(report: Report) -> dict[str, Any]:
    data = report.to_json()
    data["row_errors"] = data["row_errors"][:MAX_ROW_ERRORS_KEPT]
    return data
