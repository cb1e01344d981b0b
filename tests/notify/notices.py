"""Example notices for the notify tests: one place to build a realistic UploadNotice."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from typing import Any
from zoneinfo import ZoneInfo

from sftp_watcher.calllist.report import RowError
from sftp_watcher.notify import UploadNotice, render, render_test_email

KOLKATA = ZoneInfo("Asia/Kolkata")
SENDER = "Phonon Uploads <uploads@example.com>"


def success_notice(**changes: Any) -> UploadNotice:
    notice = UploadNotice(
        upload_id="01JAB0000000000000000UPLD1",
        customer_id="acme",
        recipients=("ops@acme.example", "lead@acme.example"),
        file_name="C129113_o9vJavuB.csv",
        uploaded_at=datetime(2026, 2, 8, 15, 40, tzinfo=UTC),  # 21:10 in Kolkata
        processed_at=datetime(2026, 2, 8, 15, 41, 3, tzinfo=UTC),
        timezone=KOLKATA,
        flow_id="o9vJavuB",
        flow_type="dialer",
        succeeded=True,
        reason=None,
        rows_total=1000,
        rows_triggered=982,
        rows_rejected=18,
        start_time=datetime(2026, 2, 9, 10, 30, tzinfo=KOLKATA),
        archived_as="Success/C129113_o9vJavuB.csv",
        errors_file="Success/C129113_o9vJavuB.csv.errors.csv",
        row_errors=tuple(
            RowError(
                line=line,
                column="tel1",
                value=f"98765{line:05d}",
                reason=f"country code missing (row {line})",
            )
            for line in range(2, 20)
        ),
        warnings=("the file is not UTF-8; it was read as Windows-1252",),
        request_ids=("REQ-7f3a", "REQ-9b21"),
        phonon_errors=(),
    )
    return replace(notice, **changes)


def failure_notice(**changes: Any) -> UploadNotice:
    defaults: dict[str, Any] = {
        "file_name": "C999_o9vJavuB.csv",
        "succeeded": False,
        "reason": "file name names account C999, not C129113",
        "flow_id": None,
        "flow_type": None,
        "rows_total": 0,
        "rows_triggered": 0,
        "rows_rejected": 0,
        "start_time": None,
        "archived_as": "Failure/C999_o9vJavuB.csv",
        "errors_file": None,
        "row_errors": (),
        "file_errors": ("file name names account C999, not C129113",),
        "warnings": (),
        "request_ids": (),
    }
    defaults.update(changes)
    return success_notice(**defaults)


def as_received(message: Message) -> EmailMessage:
    """``message`` as the recipient's mail program reads it: its bytes, parsed again."""
    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def rendered(notice: UploadNotice, **options: Any) -> EmailMessage:
    return as_received(render(notice, **options))


def rendered_test_email(*args: Any, **options: Any) -> EmailMessage:
    return as_received(render_test_email(*args, **options))
