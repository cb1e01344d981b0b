"""The SQLite state database holds phone numbers, names and emails: 0600 in a 0700 folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sftp_watcher.state.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask_022")
def test_a_new_state_database_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    db = tmp_path / "var" / "sftp-watcher" / "state.db"

    Store.open(f"sqlite:///{db}").close()

    assert mode(db) == 0o600
    assert mode(db.parent) == 0o700
    for sidecar in db.parent.iterdir():  # -wal, -shm while they exist
        assert mode(sidecar) == 0o600, sidecar.name


@pytest.mark.usefixtures("umask_022")
def test_an_existing_world_readable_state_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    Store.open(f"sqlite:///{db}").close()
    db.chmod(0o644)

    Store.open(f"sqlite:///{db}").close()

    assert mode(db) == 0o600
