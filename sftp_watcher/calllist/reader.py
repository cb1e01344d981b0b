"""One CSV's bytes to its header and record columns as a spreadsheet shows them (SPEC 4).

Encoding, delimiter, quotes. pandas' C parser splits the common file several times
faster than the ``csv`` module and hands over columns, which is how the rows are
judged. It is used only where it provably splits exactly as the ``csv`` module does;
anything else (ragged rows, a quote the ``csv`` module would refuse, no data) is read
by the ``csv`` module, whose judgement stays the reference.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import pandas as pd

from sftp_watcher.errors import FileRejected, RecordLimit

_DELIMITERS = (",", ";", "\t")  # in order of preference when the header is ambiguous
# SPEC 4. Checked before any parser builds a column: pandas makes one object per column
# (580,000 header cells took 37 s and 1.4 GB).
MAX_COLUMNS = 1000
# Below this size pandas' set-up costs more than the csv module's whole reading.
_SMALL_FILE_BYTES = 16 * 1024
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class Overflow:
    """A record with non-empty cells beyond the header's columns."""

    cells: int  # cells in the record
    index: int  # the first non-empty cell beyond the header
    value: str


@dataclass(frozen=True, slots=True)
class Sheet:
    """One CSV: its header row and its non-blank records after it, column by column.

    Line numbers count records, not physical lines: a quoted cell holding line breaks
    is still one line, as in a spreadsheet, and a blank line is an empty row that
    numbers the rows after it on. Entirely blank records are left out.
    """

    member: str | None  # zip member name, None for a plain .csv
    header: list[str] | None  # the first non-blank record; None when there is none
    lines: list[int] = field(default_factory=list)  # spreadsheet line of each record
    # columns[i][k] is cell i of record k; one column per header cell, short rows padded.
    columns: list[list[str]] = field(default_factory=list)
    overflow: dict[int, Overflow] = field(default_factory=dict)  # by record index k
    warnings: tuple[str, ...] = ()


def read_sheet(data: bytes, member: str | None = None, max_records: int | None = None) -> Sheet:
    """Decode and split one CSV; raises ``FileRejected`` when it cannot be read at all.

    More than ``max_records`` non-blank records after the header, or a header wider than
    ``MAX_COLUMNS``, rejects it (``RecordLimit`` for the former) without reading further.
    """
    text, warnings = decode(data, member)
    delimiter = sniff_delimiter(text)
    _check_width(text, delimiter, member)
    if len(data) <= _SMALL_FILE_BYTES:
        rows = _split_exactly(text, delimiter, member, max_records)
        return _sheet_from_rows(rows, member, warnings)
    columns = _split_fast(text, data, delimiter, bool(warnings), max_records)
    sheet = None if columns is None else _sheet_from_columns(columns, member, warnings)
    if sheet is None:
        rows = _split_exactly(text, delimiter, member, max_records)
        return _sheet_from_rows(rows, member, warnings)
    if max_records is not None and len(sheet.lines) > max_records:
        raise RecordLimit(member)
    return sheet


def _check_width(text: str, delimiter: str, member: str | None) -> None:
    """More than ``MAX_COLUMNS`` header cells rejects the file before its rows are split."""
    line = first_nonblank_line(text)
    if line.count(delimiter) < MAX_COLUMNS:  # fewer delimiters: fewer cells, quoted or not
        return
    start = text.find(line)
    reader = csv.reader(io.StringIO(text[start:], newline=""), delimiter=delimiter)
    try:
        width = len(next(reader, []))
    except csv.Error:
        return  # the reading proper says what is wrong
    if width > MAX_COLUMNS:
        subject = member or "the file"
        raise FileRejected(
            f"{subject} has {width:,} columns; at most {MAX_COLUMNS:,} are allowed: "
            "keep tel1..tel10, starttime and the flow's variables",
            file=member,
        )


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


def _split_exactly(
    text: str, delimiter: str, member: str | None, max_records: int | None = None
) -> list[list[str]]:
    """The reference reading: the ``csv`` module, strict about quotes.

    Stops with ``RecordLimit`` at the first non-blank record beyond the header and
    ``max_records`` more.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        if max_records is None:
            return list(reader)
        rows = []
        nonblank = 0
        for row in reader:
            rows.append(row)
            if "".join(row).strip():
                nonblank += 1
                if nonblank > max_records + 1:
                    raise RecordLimit(member)
        return rows
    except csv.Error as exc:
        where = f"{member}, " if member else ""
        raise FileRejected(
            f"the file cannot be read as CSV near {where}line {reader.line_num} ({exc}): "
            'a quoted cell must end with a quote (") directly followed by the delimiter '
            "or the end of the line",
            file=member,
        ) from exc


def _split_fast(
    text: str, data: bytes, delimiter: str, recoded: bool, max_records: int | None = None
) -> list[list[str]] | None:
    """The records as columns by pandas' C parser; None where it might split differently.

    With ``max_records``, pandas stops after the header and one record more than that
    (blank lines count there, so fewer may be non-blank: the caller checks).
    """
    if '"' in text and not _quotes_are_plain(text, delimiter):
        return None
    raw = text.encode("utf-8") if recoded else data.removeprefix(b"\xef\xbb\xbf")
    # Lines bound records from above: only a file that may be over the limit is cut short.
    nrows = None
    if max_records is not None and raw.count(b"\n") + 1 > max_records + 1:
        nrows = max_records + 2
    try:
        frame = pd.read_csv(
            io.BytesIO(raw),
            sep=delimiter,
            header=None,
            dtype=object,  # str cells as they are: no string-dtype checks
            engine="c",
            encoding="utf-8",
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,  # blank lines still number the lines after them
            quotechar='"',
            doublequote=True,
            nrows=nrows,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None  # ragged rows, no data: the csv module says what is wrong, or why not
    columns = [frame[column].tolist() for column in frame.columns]
    if nrows is not None and len(frame) == nrows:
        if max_records is not None and len(_nonblank(columns, nrows)) > max_records + 1:
            raise RecordLimit(None)
        return None  # cut short among blank lines: the csv module counts on
    return columns


def _quotes_are_plain(text: str, delimiter: str) -> bool:
    """Every quoted cell ends with a quote directly followed by the delimiter or line end.

    The ``csv`` module (strict) refuses ``"a"b``; pandas reads it as ``ab``. Removing
    every well-formed quoted cell leaves a quote at the start of a cell only when some
    quoted cell was not well-formed. A quote inside an unquoted cell is literal to both.
    """
    sep = re.escape(delimiter)
    cell_start = rf"(?:(?<=[{sep}\r\n])|\A)"
    plain = re.sub(rf'{cell_start}"(?:[^"]|"")*+"(?=[{sep}\r\n]|\Z)', "", text)
    return re.search(rf'{cell_start}"', plain) is None


def _sheet_from_columns(
    columns: list[list[str]], member: str | None, warnings: tuple[str, ...]
) -> Sheet | None:
    """pandas' records, padded to the first record's width; None unless that is the header.

    Takes ``columns`` over.
    """
    count = len(columns[0]) if columns else 0
    nonblank = _nonblank(columns, count)
    if not nonblank or nonblank[0] != 0:
        return None  # the header's own width is unknown: let the csv module say
    kept = nonblank[1:]
    header = [column[0] for column in columns]
    if len(kept) == count - 1:  # no blank record: drop the header row in place, no copy
        for column in columns:
            del column[0]
        return Sheet(member, header, list(range(2, count + 1)), columns, warnings=warnings)
    data = [[column[k] for k in kept] for column in columns]
    return Sheet(member, header, [k + 1 for k in kept], data, warnings=warnings)


def _nonblank(columns: list[list[str]], count: int) -> list[int]:
    """Indexes of the records with a non-blank cell, testing the first column first."""
    first = columns[0]
    if "" not in first and not any(map(str.isspace, first)):
        return list(range(count))
    blank = {
        k
        for k, cell in enumerate(first)
        if not cell.strip() and not "".join(column[k] for column in columns).strip()
    }
    return [k for k in range(count) if k not in blank]


def _sheet_from_rows(rows: list[list[str]], member: str | None, warnings: tuple[str, ...]) -> Sheet:
    """The csv module's records: of any length; short ones are padded with empty cells."""
    nonblank = [k for k, row in enumerate(rows) if "".join(row).strip()]
    if not nonblank:
        return Sheet(member, None, warnings=warnings)
    header = rows[nonblank[0]]
    width = len(header)
    overflow: dict[int, Overflow] = {}
    padded: list[list[str]] = []
    for k, line in enumerate(nonblank[1:]):
        cells = rows[line]
        if len(cells) != width:
            extra = next((i for i in range(width, len(cells)) if cells[i].strip()), None)
            if extra is not None:
                overflow[k] = Overflow(len(cells), extra, cells[extra])
            cells = (cells + [""] * width)[:width]
        padded.append(cells)
    data = [list(column) for column in zip(*padded, strict=True)] if padded else []
    if not data:
        data = [[] for _ in range(width)]
    return Sheet(member, header, [k + 1 for k in nonblank[1:]], data, overflow, warnings)
