"""Readiness (SPEC 2): which entries of Upload/ a sweep takes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sftp_watcher.poller import is_ready
from sftp_watcher.sources.base import Entry

NOW = datetime(2026, 2, 8, 12, 0, tzinfo=UTC)


def entry(name: str = "C1_abc.csv", *, age: float = 60.0, kind: str = "file") -> Entry:
    return Entry(name=name, size=10, mtime=NOW.timestamp() - age, kind=kind)  # type: ignore[arg-type]


def test_a_file_untouched_for_long_enough_is_ready() -> None:
    assert is_ready(entry(age=10), NOW, 10)


def test_a_file_modified_within_the_minimum_age_is_not_ready() -> None:
    assert not is_ready(entry(age=9.5), NOW, 10)


@pytest.mark.parametrize(
    "name", [".C1_abc.csv", "C1_abc.csv.filepart", "a.PART", "b.partial", "c.tmp", "d.crdownload"]
)
def test_temporary_and_dot_names_are_never_ready(name: str) -> None:
    assert not is_ready(entry(name), NOW, 0)


@pytest.mark.parametrize("kind", ["dir", "link", "other"])
def test_only_plain_files_are_ready(kind: str) -> None:
    assert not is_ready(entry(kind=kind), NOW, 0)


def test_server_clock_skew_from_the_profile_corrects_the_age() -> None:
    """A server 30 s behind us stamps a file written just now 30 s in the past."""
    written_now_on_slow_server = entry(age=30)
    assert is_ready(written_now_on_slow_server, NOW, 10)
    assert not is_ready(written_now_on_slow_server, NOW, 10, clock_skew_seconds=-30)
