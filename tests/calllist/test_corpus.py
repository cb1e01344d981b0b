"""Real-world call-list files (tests/calllist/corpus/) and their exact judgements."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sftp_watcher.calllist import Outcome, Rules, judge_path

CORPUS = Path(__file__).parent / "corpus"
IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
RULES = Rules.permissive()


def judged(name: str, tmp_path: Path):
    """Judge a corpus file under an upload name (judge_path takes the name from the path)."""
    target = tmp_path / "C129113_o9vJavuB.csv"
    target.write_bytes((CORPUS / name).read_bytes())
    return judge_path(target, RULES, NOW)


def test_excel_export_with_bom_and_crlf_reads_headers_and_flags_missing_country_code(tmp_path):
    report = judged("excel_bom_crlf.csv", tmp_path)
    assert report.outcome is Outcome.PARTIAL
    assert (report.rows_total, report.rows_valid, report.rows_rejected) == (2, 1, 1)
    assert report.warnings == ()
    (error,) = report.row_errors
    assert (error.line, error.column, error.value) == (3, "tel1", "9876543210")
    assert "has no country code" in error.reason and "919876543210" in error.reason
    (record,) = report.records
    assert record.numbers == ("919876543210",)
    assert record.start_time == datetime(2026, 2, 8, 21, 12, tzinfo=IST)
    assert record.variables == (("$flow.key.Name", "Asha"),)


def test_semicolon_file_strips_separators_and_accepts_plus_and_00(tmp_path):
    report = judged("semicolon.csv", tmp_path)
    assert report.outcome is Outcome.ACCEPTED
    (record,) = report.records
    assert record.numbers == ("919876543210", "919876543211")
    assert record.variables == (("$flow.key.Name", "Asha"),)


def test_tab_file_matches_headers_case_insensitively_and_keeps_prefixed_variable(tmp_path):
    report = judged("tab.csv", tmp_path)
    assert report.outcome is Outcome.ACCEPTED
    (record,) = report.records
    assert record.start_time == datetime(2026, 2, 9, 8, 0, tzinfo=IST)
    assert record.variables == (("$flow.key.City", "Pune"),)


def test_quoted_line_breaks_are_one_line_and_blank_lines_are_numbered_but_not_counted(tmp_path):
    report = judged("quoted_newlines.csv", tmp_path)
    assert report.outcome is Outcome.PARTIAL
    assert (report.rows_total, report.rows_valid, report.rows_rejected) == (3, 2, 1)
    assert [r.line for r in report.records] == [2, 4]
    assert report.records[0].variables == (("$flow.key.Address", "12 MG Road\nPune, MH"),)
    (error,) = report.row_errors
    assert (error.line, error.column, error.value) == (5, "tel1", "abc")


def test_hindi_names_in_utf8_are_kept_without_warning(tmp_path):
    report = judged("hindi_utf8.csv", tmp_path)
    assert report.outcome is Outcome.ACCEPTED
    assert report.warnings == ()
    assert report.records[0].variables == (("$flow.key.Name", "आशा"),)


def test_windows_1252_file_is_read_with_a_warning(tmp_path):
    report = judged("cp1252.csv", tmp_path)
    assert report.outcome is Outcome.ACCEPTED
    assert report.warnings == ("file is not valid UTF-8; read as Windows-1252",)
    assert report.records[0].variables == (("$flow.key.Name", "José"),)


def test_trailing_empty_columns_are_ignored(tmp_path):
    report = judged("trailing_empty.csv", tmp_path)
    assert report.outcome is Outcome.ACCEPTED
    assert report.records[0].variables == (("$flow.key.Name", "Asha"),)
    assert report.warnings == ("ignored 2 empty column(s) (no header, no values)",)


def test_scientific_notation_is_rejected_saying_to_format_the_column_as_text(tmp_path):
    report = judged("scientific.csv", tmp_path)
    assert report.outcome is Outcome.PARTIAL
    (error,) = report.row_errors
    assert (error.line, error.value) == (2, "9.19876E+11")
    assert "scientific notation" in error.reason and "as Text" in error.reason
