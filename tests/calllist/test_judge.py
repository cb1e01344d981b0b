"""judge(): name rules, file rules, row rules and the policy, on small inline files."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sftp_watcher.calllist import Outcome, Rules, judge, judge_path, rejected_report
from sftp_watcher.config import Limits

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
NAME = "C129113_o9vJavuB.csv"
CUSTOMER = Rules(timezone=IST, user_id="129113", flow_ids=frozenset({"o9vJavuB", "Zz12Yy34"}))


def run(text: str, rules: Rules = CUSTOMER, name: str = NAME):
    return judge(name, text.encode(), rules, NOW)


def test_file_naming_another_account_is_rejected_before_reading():
    report = run("tel1\n919876543210\n", name="C999_o9vJavuB.csv")
    assert report.outcome is Outcome.REJECTED
    assert report.file_errors == ("file name names account C999, not C129113",)
    assert (report.rows_total, report.rows_valid, report.rows_rejected) == (0, 0, 0)


def test_unconfigured_flow_is_rejected_listing_the_configured_ones():
    report = run("tel1\n919876543210\n", name="C129113_XYZ.csv")
    assert report.file_errors == (
        "flow XYZ is not configured for this account (configured: Zz12Yy34, o9vJavuB)",
    )


def test_permissive_rules_accept_any_account_and_flow():
    report = run("tel1\n919876543210\n", Rules.permissive(), name="C1_abc.CSV")
    assert report.outcome is Outcome.ACCEPTED
    assert (report.user_id, report.flow_id) == ("1", "abc")


def test_bad_file_name_is_a_rejected_report_not_an_exception():
    report = run("tel1\n919876543210\n", name="calls.xlsx")
    assert report.outcome is Outcome.REJECTED
    assert report.file_errors[0].startswith("only .csv and .zip files are processed (got .xlsx)")


def test_file_name_start_time_in_the_past_rejects_the_file():
    report = run("tel1\n919876543210\n", name="C129113_o9vJavuB_upload_07022026235959.csv")
    assert report.outcome is Outcome.REJECTED
    assert "in the past" in report.file_errors[0]


def test_file_name_start_time_is_used_for_rows_without_their_own():
    name = "C129113_o9vJavuB_upload_08022026080000.csv"  # earlier today: call now
    report = run("tel1,starttime\n919876543210,\n919876543211,2026-02-10T09:30\n", name=name)
    assert report.outcome is Outcome.ACCEPTED
    assert report.start_time == datetime(2026, 2, 8, 8, 0, tzinfo=IST)
    assert [r.start_time for r in report.records] == [
        datetime(2026, 2, 8, 8, 0, tzinfo=IST),
        datetime(2026, 2, 10, 9, 30, tzinfo=IST),
    ]


def test_rows_without_any_start_time_start_now_in_the_customer_zone():
    now_utc = datetime(2026, 2, 8, 4, 30, tzinfo=ZoneInfo("UTC"))
    report = judge(NAME, b"tel1\n919876543210\n", CUSTOMER, now_utc)
    assert report.records[0].start_time == now_utc
    assert report.records[0].start_time.tzinfo == IST


def test_oversized_file_is_rejected_with_all_counts_zero(tmp_path: Path):
    rules = replace(CUSTOMER, limits=Limits(max_file_bytes=20))
    path = tmp_path / NAME
    path.write_bytes(b"tel1\n919876543210\n919876543211\n")
    report = judge_path(path, rules, NOW)
    assert report.outcome is Outcome.REJECTED
    assert report.file_errors == (
        "the file is 31 bytes; at most 20 bytes are accepted: split it into smaller files",
    )


def test_more_records_than_max_rows_rejects_the_file_blank_lines_not_counted():
    rules = replace(CUSTOMER, limits=Limits(max_rows=2))
    assert run("tel1\n919876543210\n\n,\n919876543211\n", rules).outcome is Outcome.ACCEPTED
    report = run("tel1\n919876543210\n919876543211\n919876543212\n", rules)
    assert report.outcome is Outcome.REJECTED
    assert report.rows_total == 0
    assert "more than 2 records; at most 2" in report.file_errors[0]


@pytest.mark.parametrize(
    ("header", "reason_part"),
    [
        ("tel1,tel11", "column tel11 is not allowed"),
        ("tel1,TEL1", "both mean tel1"),
        ("tel1,Name,$flow.key.Name", "both mean Name"),
        ("Name,tel2", "has no tel1 column"),
    ],
)
def test_bad_headers_reject_the_file(header, reason_part):
    report = run(f"{header}\n919876543210,x\n")
    assert report.outcome is Outcome.REJECTED
    assert reason_part in report.file_errors[0]


def test_unnamed_column_with_values_rejects_the_file():
    report = run("tel1,\n919876543210,oops\n")
    assert "column 2 has values but no header" in report.file_errors[0]


def test_duplicate_tel1_rejects_the_later_row_naming_the_earlier_line():
    report = run("tel1,tel2\n+91 98765 43210,\n919876543210,919876543211\n")
    assert report.outcome is Outcome.PARTIAL
    (error,) = report.row_errors
    assert (error.line, error.column) == (3, "tel1")
    assert error.reason == "duplicate of line 2 (same tel1 number)"


def test_invalid_alternate_number_rejects_the_row_and_empty_alternates_are_left_out():
    report = run("tel1,tel2,tel3\n919876543210,,919876543211\n919876543212,12345,\n")
    assert report.records[0].numbers == ("919876543210", "919876543211")
    (error,) = report.row_errors
    assert (error.line, error.column, error.value) == (3, "tel2", "12345")
    assert "is not a valid phone number" in error.reason


def test_empty_tel1_rejects_the_row():
    report = run("tel1,tel2\n,919876543210\n919876543211,\n")
    (error,) = report.row_errors
    assert (error.line, error.reason) == (2, "tel1 is empty: every row needs a number to call")


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        ("2026-02-09", "has no time of day"),
        ("08/02/2026 21:12", "is not an ISO 8601 date and time"),
        ("2026-02-07T23:59:59", "is in the past"),
        ("2026-12-02T10:00:00", "more than 90 days ahead, usually a day/month swap"),
        ("2026-02-30T10:00", "is not a real date and time"),
    ],
)
def test_bad_start_times_reject_the_row(value, reason_part):
    report = run(f"tel1,starttime\n919876543210,{value}\n919876543211,\n")
    (error,) = report.row_errors
    assert (error.line, error.column, error.value) == (2, "starttime", value)
    assert reason_part in error.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-08T09:00", datetime(2026, 2, 8, 9, 0, tzinfo=IST)),  # earlier today: fine
        ("2026-02-08 21:12:05.5", datetime(2026, 2, 8, 21, 12, 5, 500000, tzinfo=IST)),
        ("2026-02-08T18:00:00Z", datetime(2026, 2, 8, 23, 30, tzinfo=IST)),
        ("2026-02-08T21:12+05:30", datetime(2026, 2, 8, 21, 12, tzinfo=IST)),
    ],
)
def test_iso_start_times_are_read_in_the_customer_zone(value, expected):
    record = run(f"tel1,starttime\n919876543210,{value}\n").records[0]
    assert record.start_time == expected
    assert record.start_time.tzinfo == IST


def test_strict_policy_rejects_the_file_but_counts_valid_rows():
    rules = replace(CUSTOMER, row_policy="strict")
    report = run("tel1\n919876543210\nabc\n", rules)
    assert report.outcome is Outcome.REJECTED
    assert (report.rows_total, report.rows_valid, report.rows_rejected) == (2, 1, 1)
    assert report.records == ()
    assert "accepts a file only when every record is valid" in report.file_errors[0]


def test_file_without_a_valid_row_is_rejected_under_partial_policy():
    report = run("tel1\nabc\n")
    assert report.outcome is Outcome.REJECTED
    assert report.records == ()
    assert report.file_errors == ("none of the 1 records is valid: see the row errors",)


def test_extra_cells_beyond_the_header_reject_the_row():
    report = run("tel1,Name\n919876543210,Asha,surprise\n919876543211,Ravi,\n")
    (error,) = report.row_errors
    assert (error.line, error.column, error.value) == (2, "column 3", "surprise")


def test_unclosed_quote_rejects_the_file_saying_where():
    report = run('tel1,Name\n919876543210,"Asha\n')
    assert report.outcome is Outcome.REJECTED
    assert "cannot be read as CSV" in report.file_errors[0]


def test_default_country_code_completes_bare_national_numbers():
    rules = replace(CUSTOMER, default_country_code="91")
    report = run("tel1\n98765 43210\n", rules)
    assert report.records[0].numbers == ("919876543210",)


def test_rejected_report_has_zero_counts_and_the_reason():
    report = rejected_report("x.csv", "because")
    assert (report.outcome, report.file_errors, report.rows_total) == (
        Outcome.REJECTED,
        ("because",),
        0,
    )
