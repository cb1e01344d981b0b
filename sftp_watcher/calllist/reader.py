"""One CSV's bytes to its rows as a spreadsheet shows them: encoding, delimiter, quotes (SPEC 4)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sftp_watcher.errors import FileRejected

_DELIMITERS = (",", ";", "\t")  # in order of preference when the header is ambiguous
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class Sheet:
    """One CSV's records. ``rows[i]`` is spreadsheet line ``i + 1``.

    Line numbers count records, not physical lines: a quoted cell holding line breaks
    is still one line, as in a spreadsheet. A blank line is kept as an empty record,
    because a spreadsheet shows it as an empty row and numbers the rows after it on.
    """

    member: str | None  # zip member name, None for a plain .csv
    rows: list[list[str]]
    warnings: tuple[str, ...] = ()


def read_sheet(data: bytes, member: str | None = None) -> Sheet:
    """Decode and split one CSV; raises ``FileRejected`` when it cannot be read at all."""
    text, warnings = decode(data, member)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        where = f"{member}, " if member else ""
        raise FileRejected(
            f"the file cannot be read as CSV near {where}line {reader.line_num} ({exc}): "
            'a quoted cell must end with a quote (") directly followed by the delimiter '
            "or the end of the line",
            file=member,
        ) from exc
    return Sheet(member=member, rows=rows, warnings=warnings)


def decode(data: bytes, member: str | None = None) -> tuple[str, tuple[str, ...]]:
    """UTF-8 (a BOM is dropped), else Windows-1252 with a warning."""
    subject = member or "file"
    if data.startswith(_UTF16_BOMS):
        raise FileRejected(
            f"{subject} is saved as UTF-16 (Excel's 'Unicode Text'): "
            "save it as 'CSV UTF-8' instead",
            file=member,
        )
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError:
        # cp1252 leaves 5 byte values undefined; replacing them beats rejecting a whole list.
        text = data.decode("cp1252", errors="replace")
        return text, (f"{subject} is not valid UTF-8; read as Windows-1252",)


def sniff_delimiter(text: str) -> str:
    """Comma, unless the header line uses ``;`` or tab more often."""
    header = first_nonblank_line(text)
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equal counts
    return best if counts[best] > 0 else ","


def first_nonblank_line(text: str) -> str:
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        line = text[start:end]
        if line.strip():
            return line
        start = end + 1
    return ""
