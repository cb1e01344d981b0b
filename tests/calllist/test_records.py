"""The lazy records of a report read, compare and slice like the tuple of their CallRecords."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sftp_watcher.calllist import CallRecord, Rules, judge
from sftp_watcher.calllist.records import CallRecords, RecordColumns

IST = ZoneInfo("Asia/Kolkata")
T1 = datetime(2026, 2, 9, 9, 0, tzinfo=IST)
T2 = datetime(2026, 2, 9, 10, 0, tzinfo=IST)


def sheet(member=None, rows=None):
    return RecordColumns(
        lines=[2, 3, 4],
        member=member,
        tel=(["911", "912", "913"], ["", "922", ""]),
        start_times=[T1, T2, T1],
        variables=(("$flow.key.Name", ["Asha", "Ravi", "Amit"]),),
        rows=rows,
    )


def expected(member, line, numbers, start, name):
    return CallRecord(line, member, numbers, start, (("$flow.key.Name", name),))


def test_iteration_indexing_and_slicing_give_the_same_records():
    records = CallRecords([sheet(), sheet("b.csv", rows=[1])])
    as_tuple = (
        expected(None, 2, ("911",), T1, "Asha"),
        expected(None, 3, ("912", "922"), T2, "Ravi"),
        expected(None, 4, ("913",), T1, "Amit"),
        expected("b.csv", 3, ("912", "922"), T2, "Ravi"),
    )
    assert tuple(records) == as_tuple
    assert [records[k] for k in range(len(records))] == list(as_tuple)
    assert records[-1] == as_tuple[-1] and records[1:3] == as_tuple[1:3]
    assert records == as_tuple and as_tuple == records and hash(records) == hash(as_tuple)
    with pytest.raises(IndexError):
        records[4]


def test_only_the_chosen_rows_are_records_and_empty_sheets_are_skipped():
    records = CallRecords([sheet(rows=[]), sheet(rows=[0, 2])])
    assert [r.line for r in records] == [2, 4]
    assert CallRecords() == () and not CallRecords([sheet(rows=[])])


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="one value per row"):
        RecordColumns([2], None, (["911", "912"],), [T1], ())


def test_judged_records_equal_the_records_built_one_by_one():
    text = (
        "tel1,tel2,Name,starttime\n919876543210,,Asha,\nbad,,Ravi,\n"
        "919876543211,919876543212,Amit,\n"
    )
    now = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
    report = judge("C1_abc.csv", text.encode(), Rules.permissive(), now)
    assert report.records == (
        CallRecord(2, None, ("919876543210",), now, (("$flow.key.Name", "Asha"),)),
        CallRecord(4, None, ("919876543211", "919876543212"), now, (("$flow.key.Name", "Amit"),)),
    )
