"""Zip uploads: members judged together, hostile archives rejected whole (SPEC 4)."""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sftp_watcher.calllist import Outcome, Rules, judge
from sftp_watcher.config import Limits

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
NAME = "C129113_o9vJavuB.zip"
RULES = Rules.permissive()


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_members_are_judged_together_with_member_names_on_lines():
    data = make_zip(
        {
            "__MACOSX/._a.csv": b"junk",
            "lists/": b"",
            "lists/a.csv": b"tel1\n919876543210\n",
            "b.csv": b"tel1,Name\n919876543211,Ravi\n919876543210,Dup\n",
        }
    )
    report = judge(NAME, data, RULES, NOW)
    assert report.outcome is Outcome.PARTIAL
    assert (report.rows_total, report.rows_valid, report.rows_rejected) == (3, 2, 1)
    assert [(r.member, r.line) for r in report.records] == [("lists/a.csv", 2), ("b.csv", 2)]
    (error,) = report.row_errors
    assert (error.member, error.line) == ("b.csv", 3)
    assert error.reason == "duplicate of line 2 of lists/a.csv (same tel1 number)"


def test_zip_bomb_is_stopped_by_the_ratio_limit():
    data = make_zip({"bomb.csv": b"tel1\n" + b"0" * 3_000_000})
    report = judge(NAME, data, RULES, NOW)
    assert report.outcome is Outcome.REJECTED
    assert "inflates more than 100:1" in report.file_errors[0]


def test_member_larger_than_max_file_bytes_uncompressed_is_rejected():
    rules = replace(RULES, limits=Limits(max_file_bytes=1000))
    data = make_zip({"a.csv": b"tel1\n" + b"919876543210\n" * 100})
    report = judge(NAME, data, rules, NOW)
    assert "is larger than 1,000 bytes uncompressed" in report.file_errors[0]


def test_too_many_members_are_rejected():
    rules = replace(RULES, limits=Limits(max_zip_members=2))
    data = make_zip({f"{n}.csv": b"tel1\n919876543210\n" for n in range(3)})
    assert "holds 3 files; at most 2" in judge(NAME, data, rules, NOW).file_errors[0]


def test_path_traversal_member_rejects_the_zip():
    data = make_zip({"../evil.csv": b"tel1\n919876543210\n"})
    report = judge(NAME, data, RULES, NOW)
    assert report.file_errors == (
        "the zip member '../evil.csv' has an unsafe path (absolute or '..')",
    )


def test_encrypted_member_rejects_the_zip():
    data = bytearray(make_zip({"a.csv": b"tel1\n919876543210\n"}))
    # Set the "encrypted" flag bit in the local header and in the central directory entry.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature) + offset
        (flags,) = struct.unpack_from("<H", data, at)
        struct.pack_into("<H", data, at, flags | 0x1)
    report = judge(NAME, bytes(data), RULES, NOW)
    assert "is encrypted" in report.file_errors[0]


def test_nested_archive_rejects_the_zip():
    inner = make_zip({"a.csv": b"tel1\n919876543210\n"})
    report = judge(NAME, make_zip({"inner.zip": inner}), RULES, NOW)
    assert "zips inside zips are not read" in report.file_errors[0]


def test_non_csv_member_rejects_the_zip():
    report = judge(NAME, make_zip({"calls.xlsx": b"PK"}), RULES, NOW)
    assert "is not a .csv file" in report.file_errors[0]


def test_corrupt_zip_is_rejected_not_raised():
    data = make_zip({"a.csv": b"tel1\n919876543210\n" * 50})
    report = judge(NAME, data[:40] + b"\x00" * 20 + data[60:], RULES, NOW)
    assert report.outcome is Outcome.REJECTED
    assert "damaged" in report.file_errors[0]
    assert "damaged" in judge(NAME, b"not a zip at all", RULES, NOW).file_errors[0]


def test_zip_with_only_metadata_has_no_csv():
    report = judge(NAME, make_zip({"__MACOSX/._x.csv": b"x", "dir/": b""}), RULES, NOW)
    assert report.file_errors == ("the zip holds no .csv file",)
