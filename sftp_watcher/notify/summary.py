"""The email's facts, gathered from an upload's record in the state database."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sftp_watcher.calllist.report import RowError
from sftp_watcher.config import CustomerConfig
from sftp_watcher.notify.message import UploadNotice
from sftp_watcher.state.models import Upload


def notice_for(
    upload: Upload,
    customer: CustomerConfig,
    *,
    timezone: ZoneInfo,
    now: datetime,
) -> UploadNotice:
    report: dict[str, Any] = upload.report or {}
    flow = customer.flow(upload.flow_id) if upload.flow_id else None
    succeeded = upload.destination == "success"
    folder = "Success" if succeeded else "Failure"
    start = report.get("start_time")
    return UploadNotice(
        upload_id=upload.id,
        customer_id=customer.id,
        recipients=tuple(customer.emails),
        file_name=upload.original_name,
        uploaded_at=upload.uploaded_at,
        processed_at=upload.judged_at or now,
        timezone=timezone,
        flow_id=upload.flow_id,
        flow_type=flow.type if flow else None,
        succeeded=succeeded,
        reason=None if succeeded else upload.reason,
        rows_total=upload.rows_total,
        rows_triggered=upload.rows_triggered,
        rows_rejected=upload.rows_total - upload.rows_triggered if succeeded else upload.rows_total,
        start_time=datetime.fromisoformat(start) if start else None,
        archived_as=f"{folder}/{upload.archived_as}" if upload.archived_as else folder,
        errors_file=f"{folder}/{upload.errors_file}" if upload.errors_file else None,
        row_errors=tuple(_row_error(e) for e in report.get("row_errors", [])),
        file_errors=tuple(report.get("file_errors", [])),
        warnings=tuple(report.get("warnings", [])),
        request_ids=tuple(report.get("request_ids", [])),
        phonon_errors=tuple(report.get("phonon_errors", [])),
    )


def _row_error(data: dict[str, Any]) -> RowError:
    return RowError(
        line=int(data["line"]),
        column=str(data["column"]),
        value=str(data["value"]),
        reason=str(data["reason"]),
        member=data.get("member"),
    )
