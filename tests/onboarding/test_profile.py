"""Judging and saving the server profile (clock skew, rename behaviour)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sftp_watcher.onboarding.folders import Observations
from sftp_watcher.onboarding.profile import build_profile, judge_profile, save_profile
from sftp_watcher.state.store import Store

WRITTEN = datetime(2026, 2, 8, 12, 0, 0, 400000, tzinfo=UTC)


def seen(mtime_offset: float, *, mtime_fraction: float = 0.0) -> Observations:
    mtime = float(int(WRITTEN.timestamp() + mtime_offset)) + mtime_fraction
    return Observations(
        rename_onto_existing="fails", posix_rename=False, mtime=mtime, written_at=WRITTEN
    )


def test_profile_records_skew_precision_and_rename_behaviour() -> None:
    profile = build_profile(seen(0), server_version="SSH-2.0-OpenSSH_9.2")
    assert profile == {
        "server_version": "SSH-2.0-OpenSSH_9.2",
        "posix_rename": False,
        "rename_onto_existing": "fails",
        "mtime_precision": "seconds",
        "clock_skew_seconds": -0.4,
    }
    fine = build_profile(seen(0, mtime_fraction=0.25), server_version=None)
    assert fine is not None
    assert fine["mtime_precision"] == "sub-second"


def test_no_profile_when_the_probe_stopped_before_measuring() -> None:
    assert build_profile(Observations(), server_version=None) is None


def test_a_server_clock_more_than_a_minute_off_is_a_warning_naming_the_skew() -> None:
    profile = build_profile(seen(-125), server_version=None)
    assert profile is not None
    check = judge_profile(profile, saved_problem=None)
    assert check.status == "warn"
    assert "the server's clock is 125 s off" in check.detail
    assert "min_file_age_seconds" in check.detail
    assert "NTP" in check.fix


def test_a_small_skew_passes() -> None:
    profile = build_profile(seen(30), server_version=None)
    assert profile is not None
    check = judge_profile(profile, saved_problem=None)
    assert check.status == "pass"
    assert "posix-rename not offered" in check.detail


def test_a_profile_that_cannot_be_saved_is_a_warning_not_a_failure() -> None:
    profile = build_profile(seen(0), server_version=None)
    assert profile is not None
    check = judge_profile(profile, saved_problem="cannot open the state database")
    assert check.status == "warn"
    assert "not saved: cannot open the state database" in check.detail


def test_save_profile_stores_it_and_reports_an_unusable_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    profile = {"posix_rename": True}
    assert save_profile(url, "acme", profile, now=WRITTEN + timedelta(seconds=1)) is None
    store = Store.open(url)
    try:
        assert store.profile("acme") == profile
    finally:
        store.close()
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = save_profile(
        f"sqlite:///{blocker / 'sub' / 'state.db'}", "acme", profile, now=WRITTEN
    )
    assert problem is not None


def test_a_database_password_never_reaches_the_problem_text() -> None:
    problem = save_profile(
        "postgresql://watcher:Hunter2-secret@127.0.0.1:1/state", "acme", {}, now=WRITTEN
    )
    assert problem is not None
    assert "Hunter2-secret" not in problem
