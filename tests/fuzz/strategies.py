"""Structure-aware inputs for the judge: CSV documents and ZIP archives an uploader could make,
from well-formed to hostile (quotes, BOMs, delimiters, encodings, huge or empty cells,
many columns, unsafe member names, damaged bytes).

Long customer values are made of ``MARK`` only, so that a report quoting more than the
allowed 200 characters of one is found by a plain substring test.
"""

from __future__ import annotations

import io
import warnings
import zipfile

from hypothesis import strategies as st

MARK = "Ж"  # long customer values are runs of it; nothing else in a report contains it
QUOTE_LIMIT = 200  # SPEC 4: a reason quotes at most this many characters of a value

_NUMBERS = [
    "919876543210",
    "+91 98765 43210",
    "0091-98765-43210",
    "(91) 98765.43210",
    "9876543210",
    "6858366258",
    "9.19876E+11",
    "+1 202 555 0143",
    "12",
    "abc",
    "+",
    "00",
    "٩١٩٨٧٦٥٤٣٢١٠",  # Arabic-Indic digits
    "9" * 40,
]
_TIMES = [
    "2026-02-08T21:12:00",
    "2026-02-09 09:00",
    "2026-02-08T21:12:00.123+05:30",
    "2026-02-08T21:12Z",
    "2026-02-08",
    "08/02/2026 21:12",
    "2025-01-01T00:00:00",
    "2099-01-01T00:00:00",
    "2026-13-45T25:61:00",
]
_HEADERS = [
    "tel1",
    "TEL1",
    " tel1 ",
    "tel2",
    "tel10",
    "tel11",
    "tel0",
    "tel01",
    "tel" + "9" * 60,
    "starttime",
    "StartTime",
    "Name",
    "$flow.key.Name",
    "$flow.key.",
    "Amount",
    "",
    " ",
    '"',
    "tel1\n",
]
_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters=MARK), max_size=12
)  # controls, bidi, quotes, separators included


def _huge(min_size: int = QUOTE_LIMIT + 1) -> st.SearchStrategy[str]:
    return st.integers(min_size, 3000).map(lambda n: MARK * n)


cells = st.one_of(
    st.sampled_from(_NUMBERS),
    st.sampled_from(_TIMES),
    _TEXT,
    st.just(""),
    _huge(),
    st.sampled_from(['"', '""', "'", "=1+1", "\x00", "\r", "\n", "\t", ";", ","]),
)
header_cells = st.one_of(st.sampled_from(_HEADERS), _TEXT, _huge())


@st.composite
def csv_documents(draw: st.DrawFn) -> bytes:
    """A call list as a spreadsheet, an editor or an attacker might save it."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    many = draw(st.integers(0, 7)) == 0
    width = draw(st.integers(995, 1010) if many else st.integers(1, 8))
    if width > 8:  # many columns: a plain header, one row
        header = ["tel1", *(f"v{i}" for i in range(width - 1))]
        rows = [["919876543210"] * width]
    else:
        header = draw(st.lists(header_cells, min_size=width, max_size=width))
        count = draw(st.integers(0, 12))
        rows = draw(
            st.lists(
                st.lists(cells, min_size=0, max_size=width + 2), min_size=count, max_size=count
            )
        )
    blank_lines = draw(st.integers(0, 3))
    lines = [_line(header, delimiter, draw(st.booleans()))]
    lines += [_line(row, delimiter, draw(st.booleans())) for row in rows]
    lines += [""] * blank_lines
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 4)) == 0:  # damage: cut, or a stray byte
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=3)) + data[cut:]
    return data


def _line(cells: list[str], delimiter: str, quote_all: bool) -> str:
    if not quote_all:
        return delimiter.join(cells)
    return delimiter.join('"' + cell.replace('"', '""') + '"' for cell in cells)


_MEMBER_NAMES = st.one_of(
    st.sampled_from(
        [
            "a.csv",
            "a.csv",  # twice as likely: members of one name
            "lists/b.CSV",
            "__MACOSX/._a.csv",
            "._a.csv",
            "dir/",
            "../evil.csv",
            "/abs.csv",
            "C:\\x.csv",
            "inner.zip",
            "notes.txt",
            "a.csv.gz",
        ]
    ),
    _TEXT.map(lambda t: t + ".csv"),
    _huge().map(lambda t: t + ".csv"),
).map(lambda name: name.replace("\x00", ""))  # zipfile ends a name at NUL (found by the campaign)


@st.composite
def zip_archives(draw: st.DrawFn) -> bytes:
    """A zip of call lists: several members, odd names, stored or deflated, maybe damaged."""
    members = draw(st.lists(st.tuples(_MEMBER_NAMES, csv_documents()), min_size=0, max_size=3))
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the campaign
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    data = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "none", "flip", "truncate"]))
    if damage == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    elif damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    return data


_FLOW = st.sampled_from(["o9vJavuB"] * 6 + ["Zz12Yy34", "x", "o9vJ" + MARK * 300])
_STAMP = st.sampled_from(
    [""] * 4 + ["_upload_08022026211200", "_upload_31022026101010", "_upload_1"]
)


@st.composite
def upload_names(draw: st.DrawFn, extension: str) -> str:
    """Mostly valid names (so the contents are read), sometimes anything at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.one_of(_TEXT, _huge())) + draw(st.sampled_from(["", ".csv", ".zip"]))
    user = draw(st.sampled_from(["129113"] * 6 + ["999", "1" * 300]))
    ext = draw(st.sampled_from([extension, extension.upper()]))
    return f"C{user}_{draw(_FLOW)}{draw(_STAMP)}.{ext}"
