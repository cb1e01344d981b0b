"""One upload, bytes in, ``Report`` out: the name, the size, the members, the rows, the policy.

Pure: no I/O except ``judge_path``'s read, and the clock is passed in. Bad input never
raises; every problem ends up in the report, worded for the customer.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sftp_watcher.calllist.headers import Columns, check_variables, map_columns
from sftp_watcher.calllist.numbers import NumberJudge
from sftp_watcher.calllist.reader import Sheet
from sftp_watcher.calllist.records import CallRecords
from sftp_watcher.calllist.report import Outcome, Report, rejected_report
from sftp_watcher.calllist.rows import RowJudge
from sftp_watcher.calllist.rules import Rules
from sftp_watcher.calllist.sheets import read_sheets
from sftp_watcher.calllist.text import quoted
from sftp_watcher.calllist.times import StartTimeJudge
from sftp_watcher.errors import FileNameError, FileRejected
from sftp_watcher.naming import UploadName, parse_upload_name

_Prepared = tuple[Sheet, Columns]


def judge_path(path: Path, rules: Rules, now: datetime) -> Report:
    """Judge a local file; its size is checked before a byte of it is read."""
    try:
        size = path.stat().st_size
        if size > rules.limits.max_file_bytes:
            return rejected_report(path.name, _too_big(size, rules.limits.max_file_bytes))
        data = path.read_bytes()
    except OSError as exc:
        return rejected_report(path.name, f"the file cannot be read: {exc.strerror or exc}")
    return judge(path.name, data, rules, now)


def judge(name: str, data: bytes, rules: Rules, now: datetime) -> Report:
    """Apply every rule of SPEC 2, 4 and 5 to one upload."""
    with _gc_paused():
        return _judge(name, data, rules, now)


def _judge(name: str, data: bytes, rules: Rules, now: datetime) -> Report:
    try:
        upload = parse_upload_name(name, rules.timezone)
    except FileNameError as exc:
        return rejected_report(name, exc.reason)
    base = Report(
        file=name,
        outcome=Outcome.REJECTED,
        user_id=upload.user_id,
        flow_id=upload.flow_id,
        start_time=upload.start_time,
    )
    warnings: tuple[str, ...] = ()
    try:
        _check_name(upload, rules, now)
        if len(data) > rules.limits.max_file_bytes:
            raise FileRejected(_too_big(len(data), rules.limits.max_file_bytes))
        sheets = _sheets(upload, data, rules)
        warnings = tuple(w for sheet in sheets for w in sheet.warnings)
        prepared = [_prepare(sheet) for sheet in sheets]
        warnings += _variable_warnings(prepared, rules, upload.flow_id)
        _check_row_count(prepared, rules)
    except FileRejected as exc:
        return replace(base, file_errors=(exc.reason,), warnings=warnings)
    warnings += tuple(_empty_column_warnings(prepared))
    return _judge_rows(replace(base, warnings=warnings), upload, prepared, rules, now)


def _check_name(upload: UploadName, rules: Rules, now: datetime) -> None:
    if rules.user_id is not None and upload.user_id != rules.user_id:
        raise FileRejected(
            f"file name names account C{quoted(upload.user_id)}, not C{rules.user_id}"
        )
    if rules.flow_ids is not None and upload.flow_id not in rules.flow_ids:
        configured = ", ".join(sorted(rules.flow_ids)) or "none"
        raise FileRejected(
            f"flow {quoted(upload.flow_id)} is not configured for this account "
            f"(configured: {configured})"
        )
    start = upload.start_time
    if start is None:
        return
    shown = start.strftime("%d/%m/%Y %H:%M:%S")
    if start.date() < now.astimezone(rules.timezone).date():
        raise FileRejected(
            f"the start time in the file name ({shown}) is in the past: use today's date or "
            "later (DDMMYYYYHHMMSS), or leave the _upload_ part out to call now"
        )
    if start > now + timedelta(days=rules.limits.max_schedule_days):
        raise FileRejected(
            f"the start time in the file name ({shown}) is more than "
            f"{rules.limits.max_schedule_days} days ahead, usually a day/month swap "
            "(the name wants DDMMYYYYHHMMSS)"
        )


def _too_big(size: int, limit: int) -> str:
    return (
        f"the file is {size:,} bytes; at most {limit:,} bytes are accepted: "
        "split it into smaller files"
    )


def _sheets(upload: UploadName, data: bytes, rules: Rules) -> list[Sheet]:
    return read_sheets(upload.extension, data, rules.limits)


def _prepare(sheet: Sheet) -> _Prepared:
    if sheet.header is None:
        subject = quoted(sheet.member) if sheet.member else "the file"
        raise FileRejected(f"{subject} is empty: it needs a header row (tel1, ...) and records")
    return sheet, map_columns(sheet.header, sheet.columns, sheet.member)


def _variable_warnings(prepared: list[_Prepared], rules: Rules, flow_id: str) -> tuple[str, ...]:
    declared = rules.declared_variables(flow_id)
    if declared is None:
        return ()
    return tuple(
        warning
        for sheet, columns in prepared
        for warning in check_variables(columns, declared, flow_id, sheet.member)
    )


def _check_row_count(prepared: list[_Prepared], rules: Rules) -> None:
    count = sum(len(sheet.lines) for sheet, _ in prepared)
    if count > rules.limits.max_rows:
        raise FileRejected(
            f"the file has {count:,} records; at most {rules.limits.max_rows:,} are accepted "
            "in one upload: split it into smaller files"
        )


def _empty_column_warnings(prepared: list[_Prepared]) -> Iterator[str]:
    for sheet, columns in prepared:
        if columns.ignored_empty:
            where = f" in {quoted(sheet.member)}" if sheet.member else ""
            yield f"ignored {columns.ignored_empty} empty column(s){where} (no header, no values)"


def _judge_rows(
    base: Report, upload: UploadName, prepared: list[_Prepared], rules: Rules, now: datetime
) -> Report:
    default_start = (upload.start_time or now).astimezone(rules.timezone)
    judge_rows = RowJudge(
        NumberJudge(rules.home_region, rules.default_country_code),
        StartTimeJudge(
            rules.timezone,
            now,
            default_start,
            rules.limits.max_schedule_days,
            rules.calling_hours,
            named_default=upload.start_time is not None,
        ),
        default_start,
    )
    for sheet, columns in prepared:
        judge_rows.add(sheet, columns)
    verdicts = judge_rows.verdicts
    valid = verdicts.total - verdicts.rejected
    file_errors: tuple[str, ...] = ()
    if verdicts.total == 0:
        file_errors = ("the file has a header row but no records",)
    elif valid == 0:
        file_errors = (f"none of the {verdicts.total:,} records is valid: see the row errors",)
    elif verdicts.rejected and rules.row_policy == "strict":
        file_errors = (
            f"{verdicts.rejected:,} of {verdicts.total:,} records are invalid and this account "
            "accepts a file only when every record is valid: fix them and upload the file again",
        )
    outcome = (
        Outcome.REJECTED
        if file_errors
        else Outcome.PARTIAL
        if verdicts.rejected
        else Outcome.ACCEPTED
    )
    return replace(
        base,
        outcome=outcome,
        rows_total=verdicts.total,
        rows_valid=valid,
        rows_rejected=verdicts.rejected,
        file_errors=file_errors,
        row_errors=tuple(verdicts.errors),
        records=() if outcome is Outcome.REJECTED else CallRecords(verdicts.records),
    )


class _CollectorPause:
    """Holds off the cyclic garbage collector while a big file is judged.

    A 200,000-row file allocates hundreds of thousands of containers (parser output,
    row errors, lookup tables); the collector would rescan them again and again for
    cycles this code never makes.
    Reference counting still frees everything. Nested and concurrent judges share
    one pause: the last one out restores the collector as it found it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._resume = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._resume:
                    gc.enable()


_gc_paused = _CollectorPause()
