"""Local-folder source: the three folders on this machine's disk, watched for new uploads."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

import structlog
from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from sftp_watcher.config import LocalSourceConfig
from sftp_watcher.errors import (
    FileRejected,
    RemoteFileNotFound,
    RemoteOperationFailed,
    SourceUnavailable,
)
from sftp_watcher.sources.base import Entry, EntryKind, Folder, Source, describe_mode
from sftp_watcher.sources.names import is_temporary_name

log = structlog.get_logger(__name__)

# errno values of a filesystem that cannot make hard links (FAT, some network shares).
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})


def folder_path(config: LocalSourceConfig, folder: Folder) -> Path:
    """The directory behind ``folder`` (relative folder names are under ``config.path``)."""
    dirs = {Folder.UPLOAD: config.upload_dir, Folder.SUCCESS: config.success_dir}
    return config.path / dirs.get(folder, config.failure_dir)


class LocalSource(Source):
    """One customer's folders on local disk; like SFTP, but never overwrites anything."""

    def __init__(self, customer_id: str, config: LocalSourceConfig) -> None:
        self.customer_id = customer_id
        self._config = config

    def __repr__(self) -> str:
        return f"LocalSource(customer={self.customer_id!r}, path={str(self._config.path)!r})"

    def open(self) -> None:
        # A missing root is usually an unmounted share: worth retrying, not a file error.
        if not self._config.path.is_dir():
            raise SourceUnavailable(
                f"folder {self._config.path} does not exist (not mounted?)",
                customer=self.customer_id,
                path=str(self._config.path),
            )

    def close(self) -> None:
        """Nothing to release: every operation opens and closes what it uses."""

    def list(self, folder: Folder) -> list[Entry]:
        directory = folder_path(self._config, folder)
        entries = []
        with self._errors("list", directory), os.scandir(directory) as scan:
            for item in scan:
                try:
                    info = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed between listing and stat
                entries.append(_entry(item.name, info))
        return entries

    def stat(self, folder: Folder, name: str) -> Entry:
        path = self._path(folder, name)
        with self._errors("stat", path):
            return _entry(name, path.lstat())

    def read(self, folder: Folder, name: str, max_bytes: int, *, size: int | None = None) -> bytes:
        """Only a regular file inside the folder is read: a symbolic link, FIFO, device or
        folder under the name (even one swapped in after the listing) is refused with
        ``FileRejected`` saying what it is, without following or waiting on it."""
        path = self._path(folder, name)
        with self._errors("read", path), _open_regular(path, name) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise FileRejected(
                    f"{name} is {size} bytes, larger than the limit of {max_bytes} bytes", file=name
                )
            data = handle.read(max_bytes + 1)  # one more tells a file that grew since fstat
        if len(data) > max_bytes:
            raise FileRejected(f"{name} is larger than the limit of {max_bytes} bytes", file=name)
        return data

    def rename(self, folder: Folder, name: str, to_folder: Folder, to_name: str) -> None:
        source, target = self._path(folder, name), self._path(to_folder, to_name)
        with self._errors("rename", source):
            try:
                # link() refuses an existing target atomically, where rename() would replace it.
                os.link(source, target, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                if target.exists() or target.is_symlink():
                    raise FileExistsError(errno.EEXIST, "target exists", str(target)) from exc
                source.rename(target)
            else:
                source.unlink()
        _sync_directory(source.parent)
        _sync_directory(target.parent)

    def write(self, folder: Folder, name: str, data: bytes) -> None:
        path = self._path(folder, name)
        with self._errors("write", path):
            # O_EXCL: never overwrite, even if the caller's check raced with someone.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except BaseException:
                path.unlink(missing_ok=True)  # no half-written file under the final name
                raise
        _sync_directory(path.parent)

    def remove(self, folder: Folder, name: str) -> None:
        path = self._path(folder, name)
        with self._errors("remove", path):
            path.unlink()

    def _path(self, folder: Folder, name: str) -> Path:
        if not name or "/" in name or os.sep in name or name in {".", ".."}:
            raise ValueError(f"not a plain file name: {name!r}")
        return folder_path(self._config, folder) / name

    @contextmanager
    def _errors(self, what: str, path: Path) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            raise RemoteFileNotFound(
                f"{what} {path}: no such file", customer=self.customer_id, path=str(path)
            ) from exc
        except OSError as exc:
            raise RemoteOperationFailed(
                f"{what} {path}: {exc.strerror or exc}", customer=self.customer_id, path=str(path)
            ) from exc


# O_NOFOLLOW: a symbolic link fails to open (ELOOP) instead of being followed outside the
# account; O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open_regular(path: Path, name: str) -> BinaryIO:
    """``path`` opened for reading if it is a regular file, judged on the open descriptor."""
    before = path.lstat()
    if not stat.S_ISREG(before.st_mode):
        # Not opened at all: opening a device may have effects of its own.
        raise FileRejected(
            f"{name} is {describe_mode(before.st_mode)}, not a regular file", file=name
        )
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileRejected(f"{name} is a symbolic link, not a regular file", file=name) from exc
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise FileRejected(f"{name} is {describe_mode(mode)}, not a regular file", file=name)
    return os.fdopen(fd, "rb")


def _entry(name: str, info: os.stat_result) -> Entry:
    kind: EntryKind = "other"
    if stat.S_ISLNK(info.st_mode):
        kind = "link"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISDIR(info.st_mode):
        kind = "dir"
    return Entry(name=name, size=info.st_size, mtime=info.st_mtime, kind=kind)


def _sync_directory(path: Path) -> None:
    """Make a new or moved name survive a power cut (the file's own fsync does not)."""
    with suppress(OSError):  # some filesystems cannot fsync a directory; best effort there
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Watcher:
    """A running watch on an Upload folder; ``stop()`` ends it and joins its threads."""

    def __init__(self, observer: BaseObserver, debouncer: _Debouncer) -> None:
        self._observer = observer
        self._debouncer = debouncer

    def stop(self) -> None:
        """Idempotent. No ``on_ready`` call starts after this returns."""
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join()
        self._debouncer.stop()


def watch_upload(
    config: LocalSourceConfig,
    on_ready: Callable[[], None],
    *,
    debounce_seconds: float = 0.5,
) -> Watcher:
    """Call ``on_ready()`` soon after a file is written and closed in, or moved into, Upload/.

    Bursts of events (a copy tool's create, writes and close) make one call, made
    ``debounce_seconds`` after the last of them, on a thread of its own. The call only
    says "look now": the poll still decides which files are ready.
    """
    folder = folder_path(config, Folder.UPLOAD)
    if not folder.is_dir():
        raise RemoteFileNotFound(f"cannot watch {folder}: no such folder", path=str(folder))
    debouncer = _Debouncer(on_ready, debounce_seconds)
    observer = Observer()
    observer.schedule(_UploadEvents(folder, debouncer.poke), str(folder), recursive=False)
    debouncer.start()
    try:
        observer.start()
    except OSError as exc:
        debouncer.stop()
        raise RemoteOperationFailed(
            f"cannot watch {folder}: {exc.strerror or exc}", path=str(folder)
        ) from exc
    return Watcher(observer, debouncer)


class _UploadEvents(FileSystemEventHandler):
    """Pokes on events that may make a file ready; ignores dot and in-progress names."""

    def __init__(self, folder: Path, poke: Callable[[], None]) -> None:
        self._folder = os.path.normpath(folder)
        self._poke = poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if isinstance(event, FileMovedEvent):
            path = event.dest_path  # a rename from a temporary name is the usual "done"
        elif isinstance(event, FileClosedEvent | FileCreatedEvent):
            # Closed-after-write is the reliable signal; created is for platforms without it.
            path = event.src_path
        else:
            return
        directory, name = os.path.split(os.fsdecode(path))
        if os.path.normpath(directory) != self._folder or is_temporary_name(name):
            return
        self._poke()


class _Debouncer(threading.Thread):
    """Turns a burst of pokes into one call, ``delay`` seconds after the last poke."""

    def __init__(self, on_ready: Callable[[], None], delay: float) -> None:
        super().__init__(name="upload-watch-debounce", daemon=True)
        self._on_ready = on_ready
        self._delay = delay
        self._condition = threading.Condition()
        self._due: float | None = None
        self._stopped = False

    def poke(self) -> None:
        with self._condition:
            self._due = time.monotonic() + self._delay
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()

    def run(self) -> None:
        while self._wait_until_due():
            try:
                self._on_ready()
            except Exception:  # a failing callback must not end the watch
                log.exception("watch.callback_failed")

    def _wait_until_due(self) -> bool:
        with self._condition:
            while not self._stopped:
                if self._due is None:
                    self._condition.wait()
                elif (remaining := self._due - time.monotonic()) > 0:
                    self._condition.wait(remaining)
                else:
                    self._due = None
                    return True
            return False
