"""watch_upload: a file closed after writing, or moved into Upload/, prompts a poll."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.events import (
    DirCreatedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)

from sftp_watcher.config import LocalSourceConfig
from sftp_watcher.errors import RemoteFileNotFound
from sftp_watcher.sources.local import _Debouncer, _UploadEvents, watch_upload

WAIT_SECONDS = 10  # generous upper bound for an inotify event to arrive; not a timing assertion


class Calls:
    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for folder in ("Upload", "Success", "Failure"):
        (tmp_path / folder).mkdir()
    return tmp_path


@pytest.fixture
def calls(root: Path) -> Iterator[Calls]:
    recorded = Calls()
    watcher = watch_upload(LocalSourceConfig(path=root), recorded, debounce_seconds=0.05)
    yield recorded
    watcher.stop()


def test_fires_for_a_file_written_then_closed(root: Path, calls: Calls) -> None:
    with (root / "Upload" / "C1_a.csv").open("w") as handle:
        handle.write("tel1\n")
    assert calls.event.wait(WAIT_SECONDS)


def test_fires_for_a_file_moved_into_the_folder(root: Path, tmp_path: Path, calls: Calls) -> None:
    outside = root / "Success" / "C1_a.csv"
    outside.write_text("tel1\n")  # Success/ is not watched
    outside.rename(root / "Upload" / "C1_a.csv")
    assert calls.event.wait(WAIT_SECONDS)


def test_fires_when_a_temporary_upload_is_renamed_to_its_final_name(
    root: Path, calls: Calls
) -> None:
    partial = root / "Upload" / "C1_a.csv.filepart"
    partial.write_text("tel1\n")
    partial.rename(root / "Upload" / "C1_a.csv")
    assert calls.event.wait(WAIT_SECONDS)


def test_dot_and_temporary_files_alone_do_not_fire(root: Path, calls: Calls) -> None:
    (root / "Upload" / ".hidden").write_text("x")
    (root / "Upload" / "C1_a.csv.part").write_text("x")
    (root / "Upload" / ".sftp-watcher-claim.1.C1_a.csv.inprogress").write_text("x")
    assert not calls.event.wait(1.0)


def test_stop_ends_the_watch(root: Path) -> None:
    recorded = Calls()
    watcher = watch_upload(LocalSourceConfig(path=root), recorded, debounce_seconds=0.05)
    watcher.stop()
    watcher.stop()  # idempotent
    (root / "Upload" / "C1_a.csv").write_text("tel1\n")
    assert not recorded.event.wait(0.5)


def test_a_failing_callback_does_not_end_the_watch(root: Path) -> None:
    first, second = threading.Event(), threading.Event()

    def on_ready() -> None:
        if not first.is_set():
            first.set()
            raise RuntimeError("poll failed")
        second.set()

    watcher = watch_upload(LocalSourceConfig(path=root), on_ready, debounce_seconds=0.05)
    try:
        (root / "Upload" / "C1_a.csv").write_text("tel1\n")
        assert first.wait(WAIT_SECONDS)
        (root / "Upload" / "C1_b.csv").write_text("tel1\n")
        assert second.wait(WAIT_SECONDS)
    finally:
        watcher.stop()


def test_a_burst_of_pokes_makes_one_call() -> None:
    recorded = Calls()
    debouncer = _Debouncer(recorded, delay=0.3)
    debouncer.start()
    try:
        for _ in range(5):
            debouncer.poke()
        assert recorded.event.wait(WAIT_SECONDS)
    finally:
        debouncer.stop()
    assert recorded.count == 1


def test_watching_a_missing_folder_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(RemoteFileNotFound):
        watch_upload(LocalSourceConfig(path=tmp_path), lambda: None)


@pytest.mark.parametrize(
    ("event", "pokes"),
    [
        (FileClosedEvent("/r/Upload/C1_a.csv"), True),
        (FileCreatedEvent("/r/Upload/C1_a.csv"), True),
        (FileMovedEvent("/r/Upload/C1_a.csv.part", "/r/Upload/C1_a.csv"), True),
        (FileMovedEvent("/r/Success/C1_a.csv", "/r/Upload/C1_a.csv"), True),
        (FileMovedEvent("/r/Upload/C1_a.csv", "/r/Upload/.claim"), False),
        (FileMovedEvent("/r/Upload/C1_a.csv", "/r/Success/C1_a.csv"), False),
        (FileClosedEvent("/r/Upload/.hidden"), False),
        (FileClosedEvent("/r/Upload/C1_a.csv.filepart"), False),
        (FileClosedEvent("/r/Upload/sub/C1_a.csv"), False),
        (FileModifiedEvent("/r/Upload/C1_a.csv"), False),
        (DirCreatedEvent("/r/Upload/sub"), False),
    ],
)
def test_which_events_prompt_a_poll(event: FileSystemEvent, pokes: bool) -> None:
    poked: list[bool] = []
    _UploadEvents(Path("/r/Upload"), lambda: poked.append(True)).dispatch(event)
    assert poked == ([True] if pokes else [])
