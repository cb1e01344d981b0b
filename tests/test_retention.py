"""Retention (SPEC 3): archived files older than retention_days are deleted, nothing else."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sftp_watcher.config import settings_from_mapping
from sftp_watcher.demo import embedded_mapping, prepare_tree
from sftp_watcher.retention import sweep_retention
from sftp_watcher.service import Service

DAY = 86_400


def _age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


def _service(tmp_path: Path, retention_days: int | None) -> Service:
    mapping = embedded_mapping(tmp_path, metrics_port=None)
    mapping["customers"][0]["retention_days"] = retention_days
    return Service(settings_from_mapping(mapping))


def test_expired_archived_files_are_deleted_and_recent_ones_kept(tmp_path: Path) -> None:
    account = prepare_tree(tmp_path)
    old_success = account / "Success" / "C1_a.csv"
    old_errors = account / "Failure" / "C1_b.csv.errors.csv"
    recent = account / "Success" / "C1_c.csv"
    waiting = account / "Upload" / "C1_d.csv"
    for path in (old_success, old_errors, recent, waiting):
        path.write_text("tel1\n", encoding="utf-8")
    for path in (old_success, old_errors, waiting):
        _age(path, 31)
    _age(recent, 29)

    with _service(tmp_path, retention_days=30) as service:
        assert sweep_retention(service) == 2

    assert not old_success.exists() and not old_errors.exists()
    assert recent.exists()
    assert waiting.exists(), "retention never touches Upload/"


def test_retention_is_off_by_default(tmp_path: Path) -> None:
    account = prepare_tree(tmp_path)
    old = account / "Success" / "C1_a.csv"
    old.write_text("tel1\n", encoding="utf-8")
    _age(old, 3650)
    with _service(tmp_path, retention_days=None) as service:
        assert sweep_retention(service) == 0
    assert old.exists()
