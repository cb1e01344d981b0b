"""Reading: pandas' fast split gives exactly the csv module's records, or is not used."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sftp_watcher.calllist import reader
from sftp_watcher.calllist.reader import (
    Sheet,
    _sheet_from_rows,
    _split_exactly,
    _split_fast,
    read_sheet,
    sniff_delimiter,
)
from sftp_watcher.errors import FileRejected


def reference(data: bytes) -> Sheet | str:
    """The csv module alone; a rejection as its reason."""
    text = data.decode("utf-8-sig")
    try:
        rows = _split_exactly(text, sniff_delimiter(text), None)
    except FileRejected as exc:
        return exc.reason
    return _sheet_from_rows(rows, None, ())


def outcome(data: bytes) -> Sheet | str:
    """``read_sheet`` as it reads a big file: pandas first (small files skip it)."""
    try:
        with mock.patch.object(reader, "_SMALL_FILE_BYTES", 0):
            return read_sheet(data)
    except FileRejected as exc:
        return exc.reason


csv_like = st.lists(
    st.sampled_from(["9198", "a", " ", "", ",", ";", '"', '""', "\n", "\r\n", "\r", "\t", "é"]),
    max_size=40,
).map(lambda parts: "".join(parts).encode("utf-8"))


@settings(max_examples=1500, deadline=None)
@given(csv_like)
def test_fast_and_exact_readers_agree_on_any_text(data):
    """Quotes, blank lines, ragged rows, stray CRs: same header, lines, cells, or same error."""
    assert outcome(data) == reference(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.text(st.sampled_from('ab ,"\n;'), max_size=6), min_size=3, max_size=3),
        min_size=1,
        max_size=8,
    )
)
def test_well_quoted_cells_are_split_by_pandas_exactly_as_by_the_csv_module(rows):
    """Cells holding delimiters, quotes and line breaks, quoted as spreadsheets quote them."""

    def quoted(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"' if set(cell) & set(',"\n;') else cell

    text = "tel1,Name,City\n" + "".join(",".join(map(quoted, row)) + "\r\n" for row in rows)
    assert _split_fast(text, text.encode(), ",", recoded=False) is not None
    assert outcome(text.encode()) == reference(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        'tel1,Name\n919876543210,"Asha"x\n',  # csv module refuses; pandas would read Ashax
        "tel1,Name\n919876543210,Asha,extra\n",  # more cells than the header
        "\n\ntel1,Name\n919876543210,Asha\n",  # blank lines before a wider header
        "",
    ],
)
def test_text_pandas_might_split_differently_is_left_to_the_csv_module(text):
    assert _split_fast(text, text.encode(), ",", recoded=False) is None


def test_malformed_quote_is_rejected_as_the_csv_module_rejects_it():
    reason = outcome(b'tel1,Name\n919876543210,"Asha"x\n')
    assert isinstance(reason, str) and "cannot be read as CSV near line 2" in reason


def test_blank_records_are_left_out_but_keep_numbering_the_lines():
    sheet = read_sheet(b"tel1,Name\n919876543210,Asha\n\n , \n919876543211,Ravi\n")
    assert sheet.header == ["tel1", "Name"]
    assert sheet.lines == [2, 5]
    assert sheet.columns == [["919876543210", "919876543211"], ["Asha", "Ravi"]]


@settings(max_examples=300, deadline=None)
@given(csv_like)
def test_a_small_file_is_read_by_the_csv_module_alone(data):
    """Below the size where pandas pays off, the reference reading is the only one."""
    with mock.patch.object(reader, "_split_fast", side_effect=AssertionError("pandas used")):
        try:
            small: Sheet | str = read_sheet(data)
        except FileRejected as exc:
            small = exc.reason
    assert small == reference(data)


def test_a_file_above_the_small_size_still_takes_pandas():
    rows = "".join(f"9198765{n:05d},Person {n}\n" for n in range(1000))
    data = f"tel1,Name\n{rows}".encode()
    assert len(data) > reader._SMALL_FILE_BYTES
    with mock.patch.object(reader, "_split_fast", wraps=reader._split_fast) as fast:
        sheet = read_sheet(data)
    fast.assert_called_once()
    assert sheet == reference(data)
