"""Folder checks and the probe file, on local disk: the probe never stays behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sftp_watcher.errors import RemoteOperationFailed
from sftp_watcher.onboarding.folders import (
    PROBE_PREFIX,
    FolderSpec,
    check_folder,
    probe_folder,
)
from sftp_watcher.onboarding.remote import LocalRemote
from tests.onboarding.helpers import assert_no_probe_left


def clock() -> datetime:
    return datetime.now(UTC)


class InterruptedRename(LocalRemote):
    """Ctrl-C arrives while the probe is being renamed."""

    def rename(self, source: str, target: str) -> None:
        raise KeyboardInterrupt


class NoDelete(LocalRemote):
    def remove(self, path: str) -> None:
        raise RemoteOperationFailed(f"delete {path}: Permission denied", path=path)


def spec(folder: Path) -> FolderSpec:
    folder.mkdir(exist_ok=True)
    return FolderSpec("Upload/", str(folder))


def test_probe_files_are_removed_when_the_command_is_interrupted(tmp_path: Path) -> None:
    remote = InterruptedRename(customer="acme")
    with pytest.raises(KeyboardInterrupt):
        probe_folder(remote, spec(tmp_path / "Upload"), clock=clock)
    assert_no_probe_left(tmp_path / "Upload")


def test_a_rename_that_replaces_an_existing_name_is_a_warning(tmp_path: Path) -> None:
    # LocalRemote's plain rename is os.rename, which replaces as some SFTP servers do.
    probe = probe_folder(LocalRemote(customer="acme"), spec(tmp_path / "Upload"), clock=clock)
    assert probe.check.status == "warn"
    assert "silently replaces" in probe.check.detail
    assert probe.seen.rename_onto_existing == "replaces"
    assert_no_probe_left(tmp_path / "Upload")


def test_a_probe_that_cannot_be_deleted_fails_naming_the_leftover(tmp_path: Path) -> None:
    probe = probe_folder(
        NoDelete(customer="acme"), spec(tmp_path / "Upload"), clock=clock, try_overwrite=False
    )
    assert probe.check.status == "fail"
    assert probe.check.detail.startswith("delete failed")
    assert PROBE_PREFIX in probe.check.fix
    assert "delete files" in probe.check.fix or "Delete" in probe.check.fix


def test_folder_check_tells_missing_created_and_not_a_folder(tmp_path: Path) -> None:
    remote = LocalRemote(customer="acme")
    missing = FolderSpec("Success/", str(tmp_path / "Success"))
    assert check_folder(remote, missing, create=False).status == "fail"
    created = check_folder(remote, missing, create=True)
    assert created.status == "pass"
    assert created.detail.endswith("created")
    assert (tmp_path / "Success").is_dir()
    (tmp_path / "Failure").write_text("")
    blocked = check_folder(remote, FolderSpec("Failure/", str(tmp_path / "Failure")), create=True)
    assert blocked.status == "fail"
    assert "is a file, not a folder" in blocked.detail
