"""Retention (SPEC 3): archived files older than retention_days are deleted, nothing else.

A file's age is its archive time as the state database holds it, never its mtime (SFTP
clients keep old mtimes, and a rename keeps them).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sftp_watcher.config import settings_from_mapping
from sftp_watcher.demo import FLOW_ID, USER_ID, embedded_mapping, prepare_tree
from sftp_watcher.retention import sweep_retention
from sftp_watcher.service import Service
from sftp_watcher.sources.sftp import SftpSource
from tests.servers.rig import Rig, csv_text, mobile

DAY = 86_400
NAME = f"C{USER_ID}_{FLOW_ID}.csv"


def _age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


class Clock:
    """The service's clock, moved forward by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _service(tmp_path: Path, retention_days: int | None, clock: Clock | None = None) -> Service:
    mapping = embedded_mapping(tmp_path, metrics_port=None)
    mapping["customers"][0]["retention_days"] = retention_days
    settings = settings_from_mapping(mapping)
    return Service(settings) if clock is None else Service(settings, clock=clock)


def _archive_with_old_mtime(tmp_path: Path, service: Service) -> Path:
    """A list written a year ago (its mtime kept by the client), archived now."""
    account = prepare_tree(tmp_path)
    upload = account / "Upload" / NAME
    upload.write_text(csv_text(mobile(1)), encoding="utf-8")
    _age(upload, 365)
    service.poll_once()
    archived = account / "Success" / NAME
    assert archived.exists(), sorted(p.name for p in (account / "Success").iterdir())
    return archived


def test_a_file_archived_a_moment_ago_is_kept_whatever_its_mtime(tmp_path: Path) -> None:
    clock = Clock()
    with _service(tmp_path, retention_days=30, clock=clock) as service:
        archived = _archive_with_old_mtime(tmp_path, service)
        assert sweep_retention(service.accounts.values()) == 0
        assert archived.exists(), "archived a moment ago: kept despite its year-old mtime"
        clock.now += timedelta(days=29)
        assert sweep_retention(service.accounts.values()) == 0
        assert archived.exists()
        clock.now += timedelta(days=2)
        assert sweep_retention(service.accounts.values()) == 1
        assert not archived.exists(), "archived 31 days ago per the database: deleted"


def test_unrecorded_files_need_an_old_mtime_and_an_old_first_sighting(tmp_path: Path) -> None:
    account = prepare_tree(tmp_path)
    old_success = account / "Success" / "C1_a.csv"
    old_errors = account / "Failure" / "C1_b.csv.errors.csv"
    young = account / "Success" / "C1_c.csv"
    waiting = account / "Upload" / "C1_d.csv"
    for path in (old_success, old_errors, young, waiting):
        path.write_text("tel1\n", encoding="utf-8")
    for path in (old_success, old_errors, waiting):
        _age(path, 400)
    clock = Clock()
    with _service(tmp_path, retention_days=30, clock=clock) as service:
        assert service.accounts["demo"].expire() == 0, "first seen now: kept"
    late = account / "Success" / "C1_e.csv"
    late.write_text("tel1\n", encoding="utf-8")
    _age(late, 400)
    clock.now += timedelta(days=31)
    _age(young, -6)  # 25 days old by the moved clock
    with _service(tmp_path, retention_days=30, clock=clock) as service:
        # A restart keeps the first sightings (they live in the state database).
        assert service.accounts["demo"].expire() == 2
    assert not old_success.exists() and not old_errors.exists()
    assert young.exists(), "its mtime is recent"
    assert late.exists(), "first seen a moment ago, however old its mtime"
    assert waiting.exists(), "retention never touches Upload/"


def test_retention_is_off_by_default(tmp_path: Path) -> None:
    account = prepare_tree(tmp_path)
    old = account / "Success" / "C1_a.csv"
    old.write_text("tel1\n", encoding="utf-8")
    _age(old, 3650)
    clock = Clock()
    with _service(tmp_path, retention_days=None, clock=clock) as service:
        assert sweep_retention(service.accounts.values()) == 0
        clock.now += timedelta(days=3650)
        assert sweep_retention(service.accounts.values()) == 0
    assert old.exists()


def test_a_replica_expires_only_the_accounts_it_owns(tmp_path: Path) -> None:
    account = prepare_tree(tmp_path)
    old = account / "Success" / "C1_a.csv"
    old.write_text("tel1\n", encoding="utf-8")
    _age(old, 400)
    clock = Clock()
    with _service(tmp_path, retention_days=30, clock=clock) as service:
        sweep_retention(service.accounts.values())
        clock.now += timedelta(days=31)
        assert sweep_retention(service.accounts.values(), owns=lambda _id: False) == 0
        assert old.exists(), "another replica owns the account"
        assert sweep_retention(service.accounts.values(), owns=lambda _id: True) == 1


@pytest.mark.sshd
def test_retention_closes_the_sftp_session_it_opens(rig: Rig) -> None:
    rig.customer_overrides["retention_days"] = 30
    old = rig.account.dir / "Success" / "C1_a.csv"
    old.write_text("tel1\n", encoding="utf-8")
    with Service(rig.settings()) as service:
        account = service.accounts["acme"]
        assert isinstance(account.source, SftpSource) and not account.source.connected
        assert account.expire() == 0
        assert not account.source.connected, "the session retention opened is closed"
        account.source.open()  # a session the sweeps keep is left to them
        assert account.expire() == 0
        assert account.source.connected
    assert old.exists()
