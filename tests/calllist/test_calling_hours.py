"""Calling hours (SPEC 5, 7): a row whose call would start outside them is rejected, saying
the hours and the time zone. The start is in, the end is out; windows may cross midnight."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from sftp_watcher.calling_hours import CallingHours
from sftp_watcher.calllist import Outcome, Rules, judge
from sftp_watcher.config import settings_from_mapping
from sftp_watcher.errors import ConfigError

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 10, 0, tzinfo=IST)
DAY = CallingHours.parse("09:00-21:00")
NAME = "C129113_o9vJavuB.csv"


def run(text: str, hours: CallingHours = DAY, now: datetime = NOW, name: str = NAME, tz=IST):
    return judge(name, text.encode(), Rules(timezone=tz, calling_hours=hours), now)


def starting(*starts: str) -> str:
    return "tel1,starttime\n" + "".join(f"9198765432{n:02},{s}\n" for n, s in enumerate(starts))


def test_hours_are_parsed_and_refused_at_configuration_load():
    assert (DAY.start, DAY.end) == (time(9), time(21))
    assert str(CallingHours.parse("21:00-06:30")) == "21:00-06:30"
    for bad in ["9-21", "09:00-24:00", "09:60-21:00", "09:00", "09:00-09:00", "0900-2100"]:
        with pytest.raises(ValueError):
            CallingHours.parse(bad)
    customer = {
        "id": "acme",
        "user_id": "129113",
        "source": {"kind": "local", "path": "/tmp/nowhere"},
        "flows": [{"id": "o9vJavuB", "security_id": "x"}],
    }
    with pytest.raises(ConfigError) as error:
        settings_from_mapping({"customers": [{**customer, "calling_hours": "9am-9pm"}]})
    assert "customers.0.calling_hours" in str(error.value)
    settings = settings_from_mapping({"customers": [{**customer, "calling_hours": "09:00-21:00"}]})
    rules = Rules.for_customer(settings, settings.customers[0])
    assert rules.calling_hours == DAY


def test_the_start_of_the_window_is_in_and_its_end_is_out():
    report = run(
        starting(
            "2026-02-09T09:00:00",
            "2026-02-09T20:59:59",
            "2026-02-09T21:00:00",
            "2026-02-09T08:59:59",
        )
    )
    assert report.outcome is Outcome.PARTIAL
    assert [e.line for e in report.row_errors] == [4, 5]
    assert report.row_errors[0].reason == (
        "2026-02-09T21:00:00 starts the call at 2026-02-09 21:00 Asia/Kolkata, outside the "
        "calling hours 09:00-21:00 (Asia/Kolkata): give a start time within them"
    )


def test_a_utc_start_time_is_judged_in_the_customers_zone_across_the_day_boundary():
    """21:12Z is 02:42 the next day in India; 03:30Z is 09:00 there."""
    report = run(starting("2026-02-09T21:12:00Z", "2026-02-09T03:30:00Z"))
    assert [e.line for e in report.row_errors] == [2]
    assert "starts the call at 2026-02-10 02:42 Asia/Kolkata" in report.row_errors[0].reason
    assert report.records[0].start_time == datetime(2026, 2, 9, 9, 0, tzinfo=IST)


def test_a_window_across_midnight_runs_into_the_next_morning():
    night = CallingHours.parse("21:00-06:00")
    report = run(
        starting(
            "2026-02-09T21:00:00",
            "2026-02-09T23:30:00",
            "2026-02-10T05:59:00",
            "2026-02-10T06:00:00",
            "2026-02-10T12:00:00",
        ),
        hours=night,
    )
    assert [e.line for e in report.row_errors] == [5, 6]
    assert "outside the calling hours 21:00-06:00 (Asia/Kolkata)" in report.row_errors[0].reason


def test_the_hours_are_those_of_the_customers_zone():
    new_york = ZoneInfo("America/New_York")
    now = datetime(2026, 2, 8, 10, 0, tzinfo=new_york)
    # 14:00 UTC is 09:00 in New York (in), 13:59 UTC is 08:59 there (out).
    report = run(starting("2026-02-09T14:00:00Z", "2026-02-09T13:59:00Z"), now=now, tz=new_york)
    assert [e.line for e in report.row_errors] == [3]
    assert "(America/New_York)" in report.row_errors[0].reason


def test_with_now_outside_the_hours_rows_to_call_now_are_rejected():
    late = datetime(2026, 2, 8, 22, 30, tzinfo=IST)
    report = run(starting("", "2026-02-08T10:00:00", "2026-02-09T10:00:00"), now=late)
    assert [e.line for e in report.row_errors] == [2, 3]
    assert report.row_errors[0].reason == (
        "no start time means the call starts now, at 22:30, outside the calling hours "
        "09:00-21:00 (Asia/Kolkata): give the row a start time within them"
    )
    assert report.row_errors[1].reason.startswith(
        "2026-02-08T10:00:00 is earlier today, so the call starts now, at 22:30"
    )
    # Without a starttime column every row calls now: every row is rejected, the file too.
    report = run("tel1\n919876543210\n919876543211\n", now=late)
    assert report.outcome is Outcome.REJECTED
    assert [(e.line, e.column) for e in report.row_errors] == [(2, "starttime"), (3, "starttime")]
    assert run("tel1\n919876543210\n").outcome is Outcome.ACCEPTED  # at 10:00: in


def test_a_file_name_start_time_outside_the_hours_rejects_the_rows_that_use_it():
    name = "C129113_o9vJavuB_upload_09022026230000.csv"
    report = run(starting("", "2026-02-09T10:00:00"), name=name)
    assert [e.line for e in report.row_errors] == [2]
    assert report.row_errors[0].reason.startswith(
        "the file name's start time starts the call at 2026-02-09 23:00 Asia/Kolkata, outside"
    )


def test_without_calling_hours_any_time_goes():
    report = judge(NAME, starting("2026-02-09T03:00:00").encode(), Rules(timezone=IST), NOW)
    assert report.outcome is Outcome.ACCEPTED
