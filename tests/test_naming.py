"""File names (SPEC 2): the upload grammar and the names left alone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftp_watcher.errors import FileNameError
from sftp_watcher.naming import UPLOAD_NAME_PATTERN, is_not_ready_name, parse_upload_name

IST = ZoneInfo("Asia/Kolkata")


def test_plain_name_has_no_start_time():
    name = parse_upload_name("C129113_o9vJavuB.csv", IST)
    assert (name.user_id, name.flow_id, name.start_time, name.extension) == (
        "129113",
        "o9vJavuB",
        None,
        "csv",
    )


def test_upload_time_is_read_day_first_in_the_given_zone():
    name = parse_upload_name("C129113_o9vJavuB_upload_08022020211200.ZIP", IST)
    assert name.start_time == datetime(2020, 2, 8, 21, 12, tzinfo=IST)
    assert name.extension == "zip"


def test_impossible_date_is_rejected_naming_the_digits():
    with pytest.raises(FileNameError) as caught:
        parse_upload_name("C129113_o9vJavuB_upload_31022020101010.csv", IST)
    assert caught.value.reason == (
        "31022020101010 in the file name is not a real date and time (DDMMYYYYHHMMSS)"
    )


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("calls.xlsx", "only .csv and .zip files are processed (got .xlsx)"),
        ("C12_x.txt", "only .csv and .zip files are processed (got .txt)"),
        ("C129113_o9vJavuB_upload_0802.csv", "the start time '0802' in the file name must be"),
        ("c129113_o9vJavuB.csv", "file name must look like C<UserID>_<FlowID>.csv"),
        ("C12_o9v-JavuB.csv", "file name must look like C<UserID>_<FlowID>.csv"),
    ],
)
def test_names_off_the_grammar_say_what_is_wrong(name, start):
    with pytest.raises(FileNameError) as caught:
        parse_upload_name(name, IST)
    assert caught.value.reason.startswith(start)
    assert caught.value.file == name


@pytest.mark.parametrize(
    "name",
    [".hidden.csv", "C1_a.csv.filepart", "C1_a.csv.PART", "x.partial", "x.tmp", "x.crdownload"],
)
def test_in_progress_names_are_not_ready(name):
    assert is_not_ready_name(name)


def test_upload_names_are_ready():
    assert not is_not_ready_name("C129113_o9vJavuB.csv")


@given(
    user_id=st.text("0123456789", min_size=1, max_size=12),
    flow_id=st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12
    ),
    start=st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)),
    extension=st.sampled_from(["csv", "CSV", "zip", "Zip"]),
)
def test_every_name_of_the_grammar_round_trips(user_id, flow_id, start, extension):
    start = None if start is None else start.replace(microsecond=0)
    upload = f"_upload_{start:%d%m%Y%H%M%S}" if start else ""
    name = f"C{user_id}_{flow_id}{upload}.{extension}"
    parsed = parse_upload_name(name, IST)
    assert UPLOAD_NAME_PATTERN.fullmatch(name)
    assert (parsed.user_id, parsed.flow_id, parsed.extension) == (
        user_id,
        flow_id,
        extension.lower(),
    )
    assert parsed.start_time == (start.replace(tzinfo=IST) if start else None)


@given(st.text(max_size=40))
def test_any_text_either_parses_or_raises_file_name_error(name):
    try:
        parsed = parse_upload_name(name, IST)
    except FileNameError as exc:
        assert exc.reason
    else:
        assert name.startswith(f"C{parsed.user_id}_{parsed.flow_id}")
