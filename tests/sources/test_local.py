"""LocalSource: the same operations as SFTP on a local folder, never overwriting."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from sftp_watcher.config import LocalSourceConfig
from sftp_watcher.errors import (
    FileRejected,
    RemoteFileNotFound,
    RemoteOperationFailed,
    SourceUnavailable,
)
from sftp_watcher.sources.base import Folder
from sftp_watcher.sources.local import LocalSource


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for folder in ("Upload", "Success", "Failure"):
        (tmp_path / folder).mkdir()
    return tmp_path


@pytest.fixture
def source(root: Path) -> LocalSource:
    src = LocalSource("acme", LocalSourceConfig(path=root))
    src.open()
    return src


def test_open_on_a_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="not mounted"):
        LocalSource("acme", LocalSourceConfig(path=tmp_path / "gone")).open()


def test_list_reports_kind_size_and_mtime(root: Path, source: LocalSource) -> None:
    upload = root / "Upload"
    (upload / "C1_a.csv").write_bytes(b"tel1\n")
    os.utime(upload / "C1_a.csv", (1_700_000_000, 1_700_000_000))
    (upload / "sub").mkdir()
    (upload / "link.csv").symlink_to(upload / "C1_a.csv")
    entries = {e.name: e for e in source.list(Folder.UPLOAD)}
    assert {n: e.kind for n, e in entries.items()} == {
        "C1_a.csv": "file",
        "sub": "dir",
        "link.csv": "link",
    }
    assert entries["C1_a.csv"].size == 5
    assert entries["C1_a.csv"].mtime == 1_700_000_000


def test_stat_exists_and_missing_files(root: Path, source: LocalSource) -> None:
    (root / "Failure" / "x.csv").write_bytes(b"abc")
    assert source.stat(Folder.FAILURE, "x.csv").size == 3
    assert source.exists(Folder.FAILURE, "x.csv")
    assert not source.exists(Folder.FAILURE, "y.csv")
    with pytest.raises(RemoteFileNotFound) as caught:
        source.stat(Folder.FAILURE, "y.csv")
    assert caught.value.customer == "acme"
    assert caught.value.path == str(root / "Failure" / "y.csv")


def test_read_returns_the_bytes_and_refuses_an_oversized_file(
    root: Path, source: LocalSource
) -> None:
    (root / "Upload" / "C1_a.csv").write_bytes(b"0123456789")
    assert source.read(Folder.UPLOAD, "C1_a.csv", 10) == b"0123456789"
    with pytest.raises(FileRejected, match="larger than") as caught:
        source.read(Folder.UPLOAD, "C1_a.csv", 9)
    assert caught.value.file == "C1_a.csv"


def test_write_creates_the_file_and_never_overwrites(root: Path, source: LocalSource) -> None:
    source.write(Folder.SUCCESS, "x.errors.csv", b"line\n")
    assert (root / "Success" / "x.errors.csv").read_bytes() == b"line\n"
    with pytest.raises(RemoteOperationFailed):
        source.write(Folder.SUCCESS, "x.errors.csv", b"other\n")
    assert (root / "Success" / "x.errors.csv").read_bytes() == b"line\n"


def test_rename_moves_and_refuses_to_replace_an_existing_name(
    root: Path, source: LocalSource
) -> None:
    (root / "Upload" / "C1_a.csv").write_text("new")
    (root / "Success" / "C1_a.csv").write_text("old")
    with pytest.raises(RemoteOperationFailed):
        source.rename(Folder.UPLOAD, "C1_a.csv", Folder.SUCCESS, "C1_a.csv")
    assert (root / "Success" / "C1_a.csv").read_text() == "old"
    assert (root / "Upload" / "C1_a.csv").read_text() == "new"
    source.rename(Folder.UPLOAD, "C1_a.csv", Folder.SUCCESS, "C1_a_2.csv")
    assert (root / "Success" / "C1_a_2.csv").read_text() == "new"
    assert not (root / "Upload" / "C1_a.csv").exists()


def test_rename_without_hard_links_still_never_replaces(
    root: Path, source: LocalSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (root / "Upload" / "C1_a.csv").write_text("new")
    (root / "Success" / "C1_a.csv").write_text("old")
    with pytest.raises(RemoteOperationFailed):
        source.rename(Folder.UPLOAD, "C1_a.csv", Folder.SUCCESS, "C1_a.csv")
    assert (root / "Success" / "C1_a.csv").read_text() == "old"
    source.rename(Folder.UPLOAD, "C1_a.csv", Folder.FAILURE, "C1_a.csv")
    assert (root / "Failure" / "C1_a.csv").read_text() == "new"


def test_rename_of_a_missing_file_is_not_found(source: LocalSource) -> None:
    with pytest.raises(RemoteFileNotFound):
        source.rename(Folder.UPLOAD, "gone.csv", Folder.SUCCESS, "gone.csv")


def test_remove_deletes_and_reports_a_file_already_gone(root: Path, source: LocalSource) -> None:
    (root / "Upload" / "C1_a.csv").write_text("x")
    source.remove(Folder.UPLOAD, "C1_a.csv")
    assert not (root / "Upload" / "C1_a.csv").exists()
    with pytest.raises(RemoteFileNotFound):
        source.remove(Folder.UPLOAD, "C1_a.csv")


def test_names_that_leave_the_folder_are_refused(source: LocalSource) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        source.read(Folder.UPLOAD, "../Success/x.csv", 10)


def test_repr_names_customer_and_path(root: Path, source: LocalSource) -> None:
    assert repr(source) == f"LocalSource(customer='acme', path={str(root)!r})"


# A name as the service's claims look, and a plain upload name: neither is read unless
# it is a regular file inside the folder.
NAMES = ["C1_a.csv", ".sftp-watcher-claim." + "0" * 32 + ".C1_a.csv.inprogress"]


@pytest.mark.parametrize("name", NAMES)
def test_a_symbolic_link_is_never_read_through(root: Path, source: LocalSource, name: str) -> None:
    outside = root.parent / "secrets.txt"
    outside.write_text("password=hunter2\n")
    (root / "Upload" / name).symlink_to(outside)
    with pytest.raises(FileRejected, match="is a symbolic link, not a regular file") as caught:
        source.read(Folder.UPLOAD, name, 1 << 20)
    assert "hunter2" not in str(caught.value)
    assert source.stat(Folder.UPLOAD, name).kind == "link", "stat does not follow it"
    assert source.exists(Folder.UPLOAD, name)
    outside.unlink()
    assert source.exists(Folder.UPLOAD, name), "a dangling link still exists as a link"


@pytest.mark.parametrize("name", NAMES)
def test_a_fifo_is_refused_without_waiting_for_a_writer(
    root: Path, source: LocalSource, name: str
) -> None:
    os.mkfifo(root / "Upload" / name)
    with pytest.raises(FileRejected, match="is a FIFO"):
        source.read(Folder.UPLOAD, name, 1 << 20)
    assert source.stat(Folder.UPLOAD, name).kind == "other"


@pytest.mark.parametrize("name", NAMES)
def test_a_folder_is_refused(root: Path, source: LocalSource, name: str) -> None:
    (root / "Upload" / name).mkdir()
    with pytest.raises(FileRejected, match="is a folder, not a regular file"):
        source.read(Folder.UPLOAD, name, 1 << 20)


def test_a_link_swapped_in_after_the_check_is_refused_on_the_open_descriptor(
    root: Path, source: LocalSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    regular = root / "Upload" / "C1_b.csv"
    regular.write_text("tel1\n")
    outside = root.parent / "secrets.txt"
    outside.write_text("password=hunter2\n")
    (root / "Upload" / "C1_a.csv").symlink_to(outside)
    looks_regular = regular.lstat()
    # The name is swapped for a link between the check and the open: the check saw a file.
    monkeypatch.setattr(Path, "lstat", lambda _self: looks_regular)
    with pytest.raises(FileRejected, match="symbolic link"):
        source.read(Folder.UPLOAD, "C1_a.csv", 1 << 20)
