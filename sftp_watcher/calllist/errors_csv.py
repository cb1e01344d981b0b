"""The ``<name>.errors.csv`` written beside an archived file: one line per rejected cell."""

from __future__ import annotations

import csv
import io

from sftp_watcher.calllist.report import Report

# A cell starting with one of these is a formula to Excel (CSV injection): an apostrophe
# in front makes it text, and Excel hides the apostrophe. Spreadsheets skip leading
# whitespace and control characters (NUL included) before looking, so does this.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SKIPPED = "".join(chr(c) for c in range(0x21)) + "\x7f\u00a0\u2028\u2029\ufeff"


def errors_csv(report: Report) -> bytes:
    """line, column, value, reason (member first when the upload was a zip); UTF-8 with BOM."""
    with_member = report.file.lower().endswith(".zip") or any(
        e.member is not None for e in report.row_errors
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = ["line", "column", "value", "reason"]
    writer.writerow(["member", *header] if with_member else header)
    for error in report.row_errors:
        cells = [str(error.line), error.column, error.value, error.reason]
        if with_member:
            cells.insert(0, error.member or "")
        writer.writerow([_neutralise(cell) for cell in cells])
    # The BOM makes Excel read UTF-8, so Hindi names show as written.
    return out.getvalue().encode("utf-8-sig")


def _neutralise(cell: str) -> str:
    if cell.startswith(_FORMULA_STARTS) or cell.lstrip(_SKIPPED).startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell
