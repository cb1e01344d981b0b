"""The few file operations setup-test needs on full paths, for an SFTP server or local disk.

The service's ``Source`` works on file names inside the three folders; setup-test must
also look at the folders themselves, create them, and try ``posix-rename``. Errors are
the project's: ``RemoteFileNotFound`` for "no such file", ``RemoteOperationFailed`` for
every other answer, ``SourceUnavailable`` when the link is gone.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import paramiko

from sftp_watcher.errors import RemoteFileNotFound, RemoteOperationFailed, SourceUnavailable
from sftp_watcher.sources.base import EntryKind

_LINK_ERRORS = (TimeoutError, ConnectionError, EOFError, paramiko.SSHException)


class Remote(Protocol):
    """Operations on full paths; ``where`` names the server or disk for messages."""

    where: str

    def join(self, folder: str, name: str) -> str: ...

    def kind(self, path: str) -> EntryKind | None:
        """What is at ``path`` (not following a link), or None if nothing is."""

    def mkdir(self, path: str) -> None: ...

    def write(self, path: str, data: bytes) -> None:
        """Create a new file; fails if the name exists."""

    def read(self, path: str) -> bytes: ...

    def mtime(self, path: str) -> float:
        """Modification time in seconds since the epoch, as precise as the server tells."""

    def rename(self, source: str, target: str) -> None:
        """Plain rename, whatever the server does when ``target`` exists."""

    def posix_rename(self, source: str, target: str) -> None:
        """OpenSSH's ``posix-rename@openssh.com``; ``RemoteOperationFailed`` if not offered."""

    def remove(self, path: str) -> None: ...


class SftpRemote:
    """Over an open paramiko SFTP session (owned by the caller)."""

    def __init__(self, sftp: paramiko.SFTPClient, *, where: str, customer: str) -> None:
        self._sftp = sftp
        self.where = where
        self._customer = customer

    def join(self, folder: str, name: str) -> str:
        return posixpath.join(folder, name)

    def kind(self, path: str) -> EntryKind | None:
        try:
            with self._errors("stat", path):
                mode = self._sftp.lstat(path).st_mode
        except RemoteFileNotFound:
            return None
        return _kind(mode)

    def mkdir(self, path: str) -> None:
        with self._errors("mkdir", path):
            self._sftp.mkdir(path)

    def write(self, path: str, data: bytes) -> None:
        with self._errors("create", path), self._sftp.open(path, "wbx") as handle:
            handle.write(data)

    def read(self, path: str) -> bytes:
        with self._errors("read", path), self._sftp.open(path, "rb") as handle:
            return bytes(handle.read())

    def mtime(self, path: str) -> float:
        with self._errors("stat", path):
            return float(self._sftp.stat(path).st_mtime or 0)

    def rename(self, source: str, target: str) -> None:
        with self._errors("rename", source):
            self._sftp.rename(source, target)

    def posix_rename(self, source: str, target: str) -> None:
        with self._errors("posix-rename", source):
            self._sftp.posix_rename(source, target)

    def remove(self, path: str) -> None:
        with self._errors("delete", path):
            self._sftp.remove(path)

    @contextmanager
    def _errors(self, what: str, path: str) -> Iterator[None]:
        try:
            yield
        except _LINK_ERRORS as exc:
            raise SourceUnavailable(
                f"{what} {path}: connection to {self.where} lost", customer=self._customer
            ) from exc
        except (OSError, paramiko.SFTPError) as exc:
            raise _answer(what, path, exc, self._customer) from exc


class LocalRemote:
    """Local disk, for customers whose folders are on this machine (``kind: local``)."""

    def __init__(self, *, customer: str) -> None:
        self.where = "local disk"
        self._customer = customer

    def join(self, folder: str, name: str) -> str:
        return str(Path(folder) / name)

    def kind(self, path: str) -> EntryKind | None:
        try:
            with self._errors("stat", path):
                mode = Path(path).lstat().st_mode
        except RemoteFileNotFound:
            return None
        return _kind(mode)

    def mkdir(self, path: str) -> None:
        with self._errors("mkdir", path):
            Path(path).mkdir()

    def write(self, path: str, data: bytes) -> None:
        with self._errors("create", path), Path(path).open("xb") as handle:
            handle.write(data)

    def read(self, path: str) -> bytes:
        with self._errors("read", path):
            return Path(path).read_bytes()

    def mtime(self, path: str) -> float:
        with self._errors("stat", path):
            return Path(path).stat().st_mtime

    def rename(self, source: str, target: str) -> None:
        with self._errors("rename", source):
            os.rename(source, target)  # noqa: PTH104 - the plain POSIX call is the point

    def posix_rename(self, source: str, target: str) -> None:
        self.rename(source, target)

    def remove(self, path: str) -> None:
        with self._errors("delete", path):
            Path(path).unlink()

    @contextmanager
    def _errors(self, what: str, path: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise _answer(what, path, exc, self._customer) from exc


def _answer(what: str, path: str, exc: Exception, customer: str) -> Exception:
    number = exc.errno if isinstance(exc, OSError) else None
    text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
    if number == errno.ENOENT:
        return RemoteFileNotFound(f"{what} {path}: no such file", customer=customer, path=path)
    return RemoteOperationFailed(f"{what} {path}: {text}", customer=customer, path=path)


def _kind(mode: int | None) -> EntryKind:
    if mode is None:
        return "other"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"
