"""Reading and judging call lists (SPEC 2, 4, 5): pure, bytes in, ``Report`` out.

``judge`` and ``judge_path`` load on first use: they bring pandas and numpy (about a
second of a cold start), which a sweep that finds no file never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sftp_watcher.calllist.errors_csv import errors_csv
from sftp_watcher.calllist.report import CallRecord, Outcome, Report, RowError, rejected_report
from sftp_watcher.calllist.rules import Rules
from sftp_watcher.calllist.text import render_text

if TYPE_CHECKING:
    from sftp_watcher.calllist.judging import judge, judge_path

_LAZY = frozenset({"judge", "judge_path"})

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("sftp_watcher.calllist.judging"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
