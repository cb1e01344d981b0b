"""Reading and judging call lists (SPEC 2, 4, 5): pure, bytes in, ``Report`` out."""

from sftp_watcher.calllist.errors_csv import errors_csv
from sftp_watcher.calllist.judge import judge, judge_path, rejected_report
from sftp_watcher.calllist.report import CallRecord, Outcome, Report, RowError
from sftp_watcher.calllist.rules import Rules
from sftp_watcher.calllist.text import render_text

__all__ = [
    "CallRecord",
    "Outcome",
    "Report",
    "RowError",
    "Rules",
    "errors_csv",
    "judge",
    "judge_path",
    "rejected_report",
    "render_text",
]
