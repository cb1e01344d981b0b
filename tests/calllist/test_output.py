"""The errors file and the text report built from a Report."""

from __future__ import annotations

from sftp_watcher.calllist import Outcome, Report, RowError, errors_csv, render_text


def report_with(*errors: RowError, file: str = "C1_a.csv") -> Report:
    return Report(
        file=file,
        outcome=Outcome.PARTIAL,
        rows_total=3,
        rows_valid=1,
        rows_rejected=2,
        row_errors=errors,
    )


def test_errors_csv_has_bom_header_and_neutralised_formulas():
    report = report_with(
        RowError(2, "tel1", '=HYPERLINK("x")', "bad"),
        RowError(3, "Name", "आशा", "-oops"),
    )
    data = errors_csv(report)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines() == [
        "line,column,value,reason",
        '2,tel1,"\'=HYPERLINK(""x"")",bad',
        "3,Name,आशा,'-oops",
    ]


def test_errors_csv_of_a_zip_names_the_member():
    report = report_with(RowError(2, "tel1", "+91", "bad", member="a.csv"), file="C1_a.zip")
    lines = errors_csv(report).decode("utf-8-sig").splitlines()
    assert lines == ["member,line,column,value,reason", "a.csv,2,tel1,'+91,bad"]


def test_text_report_aligns_the_rejected_rows():
    text = render_text(
        report_with(RowError(2, "tel1", "abc", "no digits"), RowError(10, "starttime", "x", "bad"))
    )
    assert "outcome:  partial" in text
    assert "records:  3 total, 1 valid, 2 rejected" in text
    table = text.split("rejected rows:\n")[1].splitlines()
    assert table == [
        "line  column     value  reason",
        "2     tel1       abc    no digits",
        "10    starttime  x      bad",
    ]
