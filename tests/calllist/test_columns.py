"""The header row: tel1..tel10 exactly, declared flow variables, and reasons that quote briefly."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sftp_watcher.calllist import Outcome, Rules, judge
from sftp_watcher.calllist.headers import map_columns
from sftp_watcher.calllist.text import MAX_QUOTED, quoted
from sftp_watcher.errors import FileRejected

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
NAME = "C129113_o9vJavuB.csv"
DECLARED = Rules(
    timezone=IST,
    user_id="129113",
    flow_ids=frozenset({"o9vJavuB", "Zz12Yy34"}),
    flow_variables=(("o9vJavuB", ("Name", "Amount")),),
)


def run(text: str, rules: Rules = DECLARED, name: str = NAME):
    return judge(name, text.encode(), rules, NOW)


@pytest.mark.parametrize("header", ["tel01", "TEL001", "tel0", "tel11", "tel" + "9" * 5_000])
def test_number_columns_are_tel1_to_tel10_exactly(header):
    report = run(f"tel1,{header}\n919876543210,919876543211\n", Rules(timezone=IST))
    assert report.outcome is Outcome.REJECTED and report.rows_total == 0
    assert "is not allowed: the number columns are tel1..tel10" in report.file_errors[0]
    assert len(report.file_errors[0]) < 400


def test_tel01_alone_is_not_a_tel1_column():
    report = run("tel01\n919876543210\n", Rules(timezone=IST))
    assert report.outcome is Outcome.REJECTED
    assert "column tel01 is not allowed" in report.file_errors[0]


def test_tel_columns_match_in_any_case():
    report = run("TEL1,Tel10\n919876543210,919876543211\n", Rules(timezone=IST))
    assert report.outcome is Outcome.ACCEPTED
    assert report.records[0].numbers == ("919876543210", "919876543211")


def test_a_misspelt_variable_rejects_the_file_naming_the_closest_declared_one():
    report = run("tel1,Nmae,Amount\n919876543210,Asha,100\n")
    assert report.outcome is Outcome.REJECTED and report.rows_total == 0
    assert report.file_errors == ("`Nmae`: not a variable of flow o9vJavuB; did you mean `Name`?",)


@pytest.mark.parametrize(
    ("header", "hint"),
    [
        ("name", "did you mean `Name`?"),
        ("$flow.key.Amuont", "did you mean `Amount`?"),
        ("City", "its variables are Name, Amount (and tel1..tel10, starttime)"),
    ],
)
def test_undeclared_variables_are_refused_with_a_hint(header, hint):
    report = run(f"tel1,{header}\n919876543210,x\n")
    assert report.file_errors[0].endswith(hint)


def test_declared_variables_go_through_with_or_without_the_flow_key_prefix():
    report = run("tel1,$flow.key.Name,Amount,starttime\n919876543210,Asha,100,\n")
    assert report.outcome is Outcome.ACCEPTED and report.warnings == ()
    assert report.records[0].variables == (
        ("$flow.key.Name", "Asha"),
        ("$flow.key.Amount", "100"),
    )


def test_a_declared_variable_missing_from_the_file_is_a_warning():
    report = run("tel1,Name\n919876543210,Asha\n")
    assert report.outcome is Outcome.ACCEPTED
    assert report.warnings == (
        "variable Amount of flow o9vJavuB is not in the file: its calls get no value for it",
    )


def test_flows_without_declared_variables_take_any_header_as_a_variable():
    report = run("tel1,City\n919876543210,Pune\n", name="C129113_Zz12Yy34.csv")
    assert report.outcome is Outcome.ACCEPTED
    assert report.records[0].variables == (("$flow.key.City", "Pune"),)


def test_each_zip_member_is_checked_against_the_declared_variables():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", "tel1,Name,Amount\n919876543210,Asha,1\n")
        archive.writestr("b.csv", "tel1,Name\n919876543211,Ravi\n")
    report = judge("C129113_o9vJavuB.zip", buffer.getvalue(), DECLARED, NOW)
    assert report.outcome is Outcome.ACCEPTED
    assert report.warnings == (
        "variable Amount of flow o9vJavuB is not in the file in b.csv: "
        "its calls get no value for it",
    )


def test_quoted_keeps_short_values_and_cuts_long_ones():
    assert quoted("x" * MAX_QUOTED) == "x" * MAX_QUOTED
    assert quoted("x" * 580_000) == "x" * MAX_QUOTED + "… (580,000 characters)"


def test_a_huge_header_is_not_echoed_whole_into_the_reason():
    header = [f"{n:x}" for n in range(580_000)]  # no tel1 among them
    with pytest.raises(FileRejected) as rejected:
        map_columns(header, [])
    assert "has no tel1 column" in rejected.value.reason
    assert len(rejected.value.reason) < MAX_QUOTED + 200


@pytest.mark.parametrize(
    "text",
    [
        "tel1," + "N" * 10_000 + "\n919876543210,x\n",  # undeclared variable
        "tel1,tel" + "1" * 10_000 + "\n919876543210,x\n",
        "tel1," + "A" * 10_000 + ",$flow.key." + "A" * 10_000 + "\n919876543210,x,y\n",
    ],
)
def test_long_headers_are_quoted_briefly_in_file_reasons(text):
    report = run(text)
    assert report.outcome is Outcome.REJECTED
    assert len(report.file_errors[0]) < 3 * MAX_QUOTED + 200


@pytest.mark.parametrize("cell", ["9" * 100_000, "x" * 100_000, "9.1E+" + "1" * 100_000])
def test_long_cells_are_quoted_briefly_in_row_reasons(cell):
    report = run(f"tel1,Name,Amount\n{cell},Asha,1\n")
    assert report.rows_rejected == 1
    assert len(report.row_errors[0].reason) < MAX_QUOTED + 300


@pytest.mark.parametrize(
    "name",
    [
        "C129113_" + "F" * 5_000 + ".csv",  # a flow this account does not have
        "C" + "9" * 5_000 + "_o9vJavuB.csv",  # another account
        "C129113_o9vJavuB." + "x" * 5_000,  # not .csv or .zip
        "C129113_o9vJavuB_upload_" + "1" * 5_000 + ".csv",
    ],
)
def test_long_file_names_are_quoted_briefly_in_file_reasons(name):
    report = run("tel1\n919876543210\n", name=name)
    assert report.outcome is Outcome.REJECTED
    assert len(report.file_errors[0]) < MAX_QUOTED + 400
