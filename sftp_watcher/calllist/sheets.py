"""An upload's bytes to its sheets: one for a .csv, one per member of a .zip (SPEC 4).

``max_rows`` counts across members and is checked as records are read: reading (and
inflating) stops at the first record beyond it.
"""

from __future__ import annotations

from sftp_watcher.calllist.reader import Sheet, read_sheet
from sftp_watcher.calllist.zipfiles import iter_members
from sftp_watcher.config import Limits
from sftp_watcher.errors import FileRejected, RecordLimit


def read_sheets(extension: str, data: bytes, limits: Limits) -> list[Sheet]:
    """Every sheet of the upload; ``FileRejected`` when one of them, or their count, fails."""
    try:
        if extension == "csv":
            return [read_sheet(data, max_records=limits.max_rows)]
        sheets = []
        left = limits.max_rows
        for member in iter_members(data, limits):
            sheet = read_sheet(member.data, member.name, max_records=left)
            left -= len(sheet.lines)
            sheets.append(sheet)
        return sheets
    except RecordLimit as exc:
        raise FileRejected(too_many_records(limits.max_rows)) from exc


def too_many_records(max_rows: int) -> str:
    return (
        f"the file has more than {max_rows:,} records; at most {max_rows:,} are accepted "
        "in one upload: split it into smaller files"
    )
