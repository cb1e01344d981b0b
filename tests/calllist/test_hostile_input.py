"""Hostile uploads (issue 16): wide headers, record floods, look-alike members, CSV injection,
terminal escapes. Each is stopped before it costs more than an ordinary file."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
import zlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sftp_watcher.calllist import Outcome, Report, RowError, Rules, errors_csv, judge, reader
from sftp_watcher.calllist import text as terminal
from sftp_watcher.cli import main
from sftp_watcher.config import FlowConfig, Limits
from sftp_watcher.errors import FileRejected, RecordLimit
from sftp_watcher.phonon.requests import build_batches

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
RULES = Rules.permissive()
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202egnp.exe"


def make_zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name: wanted here
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def corrupt_member(data: bytes, name: str) -> bytes:
    """``data`` (a zip) with the central directory's CRC of ``name`` wrong: reading it fails."""
    start = data.index(b"PK\x01\x02")
    while True:
        size_name = struct.unpack("<H", data[start + 28 : start + 30])[0]
        if data[start + 46 : start + 46 + size_name] == name.encode():
            crc_at = start + 16
            return data[:crc_at] + struct.pack("<I", 0xDEADBEEF) + data[crc_at + 4 :]
        start = data.index(b"PK\x01\x02", start + 4)


# --- columns ---------------------------------------------------------------------------


@pytest.mark.parametrize("small", [True, False], ids=["csv-module", "pandas"])
def test_more_than_1000_columns_rejects_before_any_parser_splits_rows(
    monkeypatch: pytest.MonkeyPatch, small: bool
) -> None:
    def no_split(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the rows were split")

    monkeypatch.setattr(reader, "_split_fast", no_split)
    monkeypatch.setattr(reader, "_split_exactly", no_split)
    header = ",".join(["tel1", *(f"v{i}" for i in range(1000))])
    padding = "" if small else "\n".join(["919876543210"] * 3000)
    report = judge("C1_ab.csv", f"{header}\n{padding}\n".encode(), RULES, NOW)

    assert report.outcome is Outcome.REJECTED
    assert report.file_errors == (
        "the file has 1,001 columns; at most 1,000 are allowed: "
        "keep tel1..tel10, starttime and the flow's variables",
    )
    assert report.rows_total == 0


def test_1000_columns_and_quoted_delimiters_in_the_header_are_accepted() -> None:
    header = ",".join(["tel1", *(f"v{i}" for i in range(998)), '"' + "," * 2000 + '"'])
    row = ",".join(["919876543210", *("x" * 999)])
    assert judge("C1_ab.csv", f"{header}\n{row}\n".encode(), RULES, NOW).outcome is Outcome.ACCEPTED


def test_580000_header_cells_cost_no_more_than_reading_them() -> None:
    """5 MB of header cells: rejected by their count (pandas took 37 s and 1.4 GB)."""
    header = ",".join(["tel1", *(f"v{i}" for i in range(579_999))])
    report = judge("C1_ab.csv", f"{header}\n919876543210\n".encode(), RULES, NOW)
    assert report.file_errors[0].startswith("the file has 580,000 columns")


# --- max_rows ---------------------------------------------------------------------------


def test_reading_stops_at_the_first_record_beyond_max_rows_in_a_csv() -> None:
    """Past the limit a broken quote is never read: the rejection is the record count."""
    rules = replace(RULES, limits=Limits(max_rows=2))
    data = b'tel1\n919876543210\n\n919876543211\n919876543212\n"broken"x\n'
    report = judge("C1_ab.csv", data, rules, NOW)
    assert report.file_errors == (
        "the file has more than 2 records; at most 2 are accepted in one upload: "
        "split it into smaller files",
    )


@pytest.mark.parametrize("rows", [3, 40_000], ids=["csv-module", "pandas"])
def test_max_rows_counts_across_members_and_stops_inflating(rows: int) -> None:
    """The members after the limit are never inflated: the damaged third is not noticed."""
    member = b"tel1\n" + b"".join(b"9198765%05d\n" % k for k in range(rows))
    data = corrupt_member(
        make_zip([("a.csv", member), ("b.csv", member), ("c.csv", member)]), "c.csv"
    )
    rules = replace(RULES, limits=Limits(max_rows=rows + rows // 2))
    report = judge("C1_ab.zip", data, rules, NOW)
    assert report.outcome is Outcome.REJECTED
    assert report.file_errors[0].startswith(f"the file has more than {rows + rows // 2:,} records")
    # At the limit exactly, every member is read (and the damaged one found).
    exact = replace(RULES, limits=Limits(max_rows=3 * rows))
    assert "damaged" in judge("C1_ab.zip", data, exact, NOW).file_errors[0]


def test_blank_lines_do_not_count_towards_max_rows_on_the_fast_path() -> None:
    rules = replace(RULES, limits=Limits(max_rows=3))
    data = b"tel1\n" + b"\n" * 20_000 + b"919876543210\n919876543211\n919876543212\n"
    report = judge("C1_ab.csv", data, rules, NOW)
    assert (report.outcome, report.rows_total) == (Outcome.ACCEPTED, 3)


# --- zip members of one name --------------------------------------------------------------


def test_two_members_of_one_name_get_distinct_client_identifiers() -> None:
    member = b"tel1\n919876543210\n"
    other = b"tel1\n919876543211\n"
    report = judge("C1_ab.zip", make_zip([("a.csv", member), ("a.csv", other)]), RULES, NOW)
    assert report.rows_valid == 2
    flow = FlowConfig(id="ab", security_id="s" * 64)  # type: ignore[arg-type]
    [batch] = build_batches("up1", flow, report.records)
    assert batch.client_ids == ("up1-0-2", "up1-1-2")


# --- the errors file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["\x00=1+1", " =1+1", "\t=cmd", "\r@SUM(A1)", "\n+1", "\x1b-1", "\u00a0=1", "\ufeff=1"],
)
def test_errors_file_neutralises_formulas_behind_blanks_and_control_characters(
    value: str,
) -> None:
    report = Report(
        file="C1_ab.csv",
        outcome=Outcome.PARTIAL,
        row_errors=(RowError(2, "Name", value, "bad"),),
    )
    line = errors_csv(report).decode("utf-8-sig").splitlines()[1:]
    assert "".join(line).startswith("2,Name,")
    cell = "\n".join(line).split(",", 2)[2].rsplit(",", 1)[0].strip('"')
    assert cell.startswith("'"), cell


# --- terminal output ------------------------------------------------------------------------


def test_escape_terminal_shows_control_and_bidi_characters() -> None:
    assert terminal.escape_terminal(ESCAPES) == "\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202egnp.exe"
    assert terminal.escape_terminal("आशा\tx\ny") == "आशा\\tx\\ny"


def test_validate_prints_customer_text_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"C1_ab{ESCAPES}.csv"
    path.write_text(f"tel1,Name\n9198{ESCAPES},x\n", encoding="utf-8")

    main(["validate", str(path)])
    text = capsys.readouterr().out
    main(["validate", str(path), "--json"])
    dumped = capsys.readouterr().out

    for shown in (text, dumped):
        assert not any(c in shown for c in "\x1b\x07\x9b\u202e"), shown
    assert "\\x1b]0;owned" in text
    assert json.loads(dumped)["file"] == path.name  # JSON keeps the value, escaped


def test_render_text_escapes_reasons_members_and_columns() -> None:
    report = Report(
        file="C1_ab.zip",
        outcome=Outcome.PARTIAL,
        warnings=(f"ignored {ESCAPES}",),
        row_errors=(RowError(2, ESCAPES, ESCAPES, ESCAPES, member=ESCAPES),),
    )
    assert "\x1b" not in terminal.render_text(report)
    assert "\u202e" not in terminal.render_text(report)


def test_crc_helper_really_breaks_the_member() -> None:
    data = corrupt_member(make_zip([("a.csv", b"x"), ("c.csv", b"tel1\n")]), "c.csv")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("a.csv") == b"x"
        with pytest.raises(zipfile.BadZipFile):
            archive.read("c.csv")
    assert zlib.crc32(b"tel1\n") != 0xDEADBEEF


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["9198", "a", " ", "", ",", '"', '""', "\n", "\r\n", "\r"]), max_size=40
    ).map(lambda parts: "".join(parts).encode()),
    st.integers(0, 6),
    st.booleans(),
)
def test_a_record_limit_reads_as_without_it_or_stops_past_it(
    data: bytes, limit: int, fast: bool
) -> None:
    """With ``max_records`` the sheet is the same, or RecordLimit exactly when it has more."""
    small = 0 if fast else reader._SMALL_FILE_BYTES
    with mock.patch.object(reader, "_SMALL_FILE_BYTES", small):
        try:
            whole: reader.Sheet | str = reader.read_sheet(data)
        except FileRejected as exc:
            whole = exc.reason
        try:
            limited: reader.Sheet | str = reader.read_sheet(data, max_records=limit)
        except RecordLimit:
            assert isinstance(whole, str) or len(whole.lines) > limit
            return
        except FileRejected as exc:
            limited = exc.reason
    assert limited == whole
    assert isinstance(whole, str) or len(whole.lines) <= limit
